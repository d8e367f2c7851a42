#!/usr/bin/env bash
# tools/bench.sh - the performance benchmark: one run, one table.
#
# Usage: tools/bench.sh [--flows N] [--duration S] [--transport tcp|ipc]
#                       [--seed-inflight N] [--rev REV] [--no-build] [--perf]
#                       [--no-install] [--keep] [--no-tls] [--no-sse] [--no-watch]
#                       [--no-replicas] [--repl-rate N]
#                       [--out FILE]
#
#   --flows N        flows to seed before measuring (default 1000; use
#                    1000000 for the scale goals)
#   --duration S     seconds per measurement (default 10)
#   --transport T    backend address kind: tcp (127.0.0.1, default) or ipc
#   --seed-inflight N  calls in flight while seeding (default 32)
#   --perf           afterwards, profile gateway and backend with perf during
#                    one more REST GET run and print their top symbols
#   --rev REV        measure a committed revision (git archive into
#                    build-bench-rev/src) instead of the working tree
#   --no-build       use the binaries of the last build as they are
#   --no-install     do not try to install missing packages
#   --keep           keep the scratch directory (logs, data, scripts)
#   --no-tls         skip the TLS measurements (step 12)
#   --no-sse         skip the watch-over-SSE measurements (step 8)
#   --no-watch       skip the parked-watch measurements over RPC (step 9)
#   --no-replicas    skip the replica measurements (steps 10 and 11)
#   --repl-rate N    creates per second on the primary while the replica's
#                    lag is measured (default 20000)
#   --out FILE       also write the tables to FILE
#
# What it does, all on 127.0.0.1 and in a scratch directory under /tmp:
#  1. installs what is missing when root: the build packages (tools/deps.sh)
#     and, for the comparisons, wrk, nginx-light (or nginx), redis-server and
#     redis-tools; a comparison whose package can't be had is skipped;
#  2. builds Release into build-bench/ (the working tree; --rev: a commit);
#  3. starts flow-service (--fsync everysec) and flow-gateway on scratch
#     addresses, seeds N flows over RPC with flow-bench (name f<i>, group
#     g<i%100>, 4 input and 3 output fields) and notes the backend's VmRSS
#     before and after;
#  4. "full list": GET /api/flows/ of all N flows, streamed, three times
#     with curl: time to the first byte, flows/s, and the gateway's VmRSS
#     before and at its peak during the transfer;
#  5. measures, each for --duration seconds, wrk -t2 -c32 against REST GET by
#     id, REST filter by name+group (random existing pairs), REST create and
#     REST update, flow-bench RPC Get and Create with 1 and 32 calls in
#     flight, nginx serving a static file holding a real GET response (same
#     size), and redis-benchmark GET (-c 32 -P 1 -n 200000, values of the
#     same size);
#  6. measures RPC Get p99 while the backend writes a snapshot, then stops
#     the backend with SIGTERM (it writes a final snapshot) and times a
#     restart on the same data dir until it answers HEALTH;
#  7. "hostile body": REST GET with wrk -t1 -c8 for --duration seconds
#     alone, then again while one client sends PUTs of a 1 MiB body of 96k
#     unknown keys back to back (curl), timing each to its 400;
#  8. watch over SSE (unless --no-sse): a second gateway (--max-conns
#     2048 --max-conns-per-ip 0 --watch-max-clients 1100) on the same
#     backend; wrk REST GET by id against it alone, then flow-sse-bench
#     opens 1,000 GET /api/watch/ streams, makes 50 creates one at a time
#     and times each from its acknowledgement to its receipt by every
#     stream (p50/p99/max over the 50,000 samples), and holds the streams
#     open while the same wrk run repeats beside them; the gateway's VmRSS
#     before and with the streams gives the memory per idle stream;
#  9. watches over RPC (unless --no-watch): flow-bench RPC Get with 32 in
#     flight, then 10,000 Watch calls parked on the backend (flow-bench
#     watch, 10 clients of 1,000: a backend takes 1,024 per connection) and
#     the same Get run beside them, the backend's VmRSS before and with
#     them (memory per parked watch); then RPC Create with 32 in flight
#     alone, beside 1,000 watchers of another group (parked, never woken)
#     and beside 1,000 watchers of every change (each woken by each
#     create, calling again from its answer's revision);
# 10. replicas (unless --no-replicas): a replica of the backend started
#     on an empty data dir, timed until it has the primary's revision (a
#     snapshot copied with SnapshotFetch when the primary's logs no longer
#     go back to revision 1, as at 1M flows; else every change); then
#     flow-repl-lag creates --repl-rate flows/s on the primary for
#     --duration seconds and times each change's arrival at the replica
#     (Watch) against its acknowledgement (p50/p99/max);
# 11. reads over replicas (unless --no-replicas): two replicas of the
#     backend and a gateway over the three of them; wrk GET by id through
#     the usual gateway (primary alone) and through that one, with the
#     primary's CPU time over each run (CPU per read, and the throughput
#     ratio);
# 12. TLS (unless --no-tls; needs openssl): certificates from
#     tools/tls-dev.sh; flow-bench RPC Get with 32 in flight (alone and
#     coalesced) on the backend restarted on its plain address, the
#     reference for the TLS ratio (same data, same moment); then the
#     backend restarted on tls+tcp:// with mutual TLS
#     and the gateway on HTTPS in front of it (client certificate to the
#     backend); measures wrk -t2 -c32 HTTPS GET by id, nginx serving the
#     same file over HTTPS with the same certificate, and flow-bench RPC
#     Get with 32 in flight over tls+tcp://, alone and coalesced;
# 13. prints markdown tables: throughput and latency, the ratios the goals in
#     ENGINEERING.md and issues 14 and 17 use (HTTPS GET / nginx HTTPS >= 0.5, RPC
#     over tls+tcp:// / over tcp:// >= 0.5), memory, start-up, snapshot,
#     full-list and hostile-body numbers.
# Reads and the snapshot/restart run before any write, so they see exactly
# N flows. Default run: about 5 minutes (less once built). Everything it
# started is stopped on exit, and the scratch directory removed.
#
# The load generators share the machine's cores with the servers, as the
# goals assume. Other load on the machine skews every number: the load
# average is printed with the results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FLOWS=1000
DURATION=10
TRANSPORT=tcp
SEED_INFLIGHT=32
PERF=0
INSTALL=1
BUILD=1
REV=""
KEEP=0
TLS=1
SSE=1
WATCH=1
REPLICAS=1
REPL_RATE=20000
OUT=""
BUILD_DIR=${BUILD_DIR:-build-bench}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--flows) FLOWS=${2:?}; shift 2 ;;
	--duration) DURATION=${2:?}; shift 2 ;;
	--transport) TRANSPORT=${2:?}; shift 2 ;;
	--seed-inflight) SEED_INFLIGHT=${2:?}; shift 2 ;;
	--perf) PERF=1; shift ;;
	--no-install) INSTALL=0; shift ;;
	--rev) REV=${2:?}; shift 2 ;;
	--no-build) BUILD=0; shift ;;
	--keep) KEEP=1; shift ;;
	--no-tls) TLS=0; shift ;;
	--no-sse) SSE=0; shift ;;
	--no-watch) WATCH=0; shift ;;
	--no-replicas) REPLICAS=0; shift ;;
	--repl-rate) REPL_RATE=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done
case $FLOWS in '' | *[!0-9]*) echo "bench.sh: --flows N" >&2; exit 2 ;; esac
case $DURATION in '' | *[!0-9]*) echo "bench.sh: --duration S" >&2; exit 2 ;; esac
case $SEED_INFLIGHT in '' | *[!0-9]*) echo "bench.sh: --seed-inflight N" >&2; exit 2 ;; esac
case $TRANSPORT in tcp | ipc) ;; *) echo "bench.sh: --transport tcp|ipc" >&2; exit 2 ;; esac
if [ "$FLOWS" -lt 1 ] || [ "$DURATION" -lt 1 ] || [ "$SEED_INFLIGHT" -lt 1 ]; then
	echo "bench.sh: --flows, --duration and --seed-inflight must be >= 1" >&2
	exit 2
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- install -------------------------------------------------------------

# Installs one package of the alternatives given, unless cmd is already on
# PATH. Returns non-zero (after a message) when none could be had.
install_tool() {
	local cmd=$1 p
	shift
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if [ "$INSTALL" -ne 1 ] || [ "$(id -u)" -ne 0 ]; then
		log "no $cmd (install one of: $*); skipping what needs it"
		return 1
	fi
	if [ -z "${APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
		APT_UPDATED=1
	fi
	# A package must not start its system service (port 80, 6379): the
	# standard policy-rc.d veto, in place only for the install.
	local policy_added=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_added=1
	fi
	for p in "$@"; do
		log "installing $p"
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "$p" >&2; then
			break
		fi
	done
	[ "$policy_added" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
	command -v "$cmd" >/dev/null 2>&1 || {
		log "could not install $cmd; skipping what needs it"
		return 1
	}
}

# shellcheck source=tools/deps.sh
. tools/deps.sh
if [ "$INSTALL" -eq 1 ]; then
	flowsvc_install_deps
fi
HAVE_WRK=0 HAVE_NGINX=0 HAVE_REDIS=0 HAVE_PERF=0
install_tool wrk wrk && HAVE_WRK=1
install_tool nginx nginx-light nginx && HAVE_NGINX=1
install_tool redis-server redis-server && install_tool redis-benchmark redis-tools &&
	HAVE_REDIS=1
command -v perf >/dev/null 2>&1 && HAVE_PERF=1
[ "$HAVE_WRK" -eq 1 ] || log "without wrk there are no REST numbers"

# ---- build ---------------------------------------------------------------

# What is measured: the working tree (default), or a committed revision
# exported with git archive (--rev), so that a run is not affected by edits
# in progress and two revisions can be compared.
if [ -n "$REV" ]; then
	SHA=$(git rev-parse --verify "$REV^{commit}") ||
		{ echo "bench.sh: no revision '$REV'" >&2; exit 2; }
	BUILD_DIR=$BUILD_DIR-rev
	SRC=$ROOT/$BUILD_DIR/src
	CODE="revision $(git rev-parse --short "$SHA") ($REV)"
else
	SRC=$ROOT
	CODE="working tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
	dirty=$(git status --porcelain -- proto service gateway 2>/dev/null |
		awk '{print $2}' | tr '\n' ' ')
	[ -z "$dirty" ] || CODE="$CODE with uncommitted changes in: ${dirty% }"
fi
OBJ=$ROOT/$BUILD_DIR/obj
if [ "$BUILD" -eq 1 ]; then
	if [ -n "$REV" ]; then
		rm -rf "$SRC"
		mkdir -p "$SRC"
		git archive "$SHA" | tar -x -C "$SRC"
	fi
	log "building $CODE, Release, into $BUILD_DIR/"
	cmake -S "$SRC" -B "$OBJ" -DCMAKE_BUILD_TYPE=Release -DFLOWSVC_TESTS=OFF >/dev/null
	cmake --build "$OBJ" -j"$(nproc)" >/dev/null
else
	log "--no-build: using the binaries in $BUILD_DIR/"
	CODE="$CODE (as last built)"
fi
SVC=$OBJ/service/flow-service
GW=$OBJ/gateway/flow-gateway
FB=$OBJ/tools/bench/flow-bench
if [ ! -x "$FB" ]; then
	# The tree does not build tools/bench (yet): build flow-bench on its
	# own, this script's version, against the measured proto sources.
	SA=$ROOT/$BUILD_DIR/flow-bench-standalone
	FB=$SA/build/bench/flow-bench
	if [ "$BUILD" -eq 1 ]; then
		mkdir -p "$SA/src"
		cat >"$SA/src/CMakeLists.txt" <<-EOF
			cmake_minimum_required(VERSION 3.18)
			project(flow_bench_standalone LANGUAGES C)
			set(CMAKE_C_STANDARD 11)
			set(CMAKE_C_STANDARD_REQUIRED ON)
			set(CMAKE_C_EXTENSIONS OFF)
			add_compile_definitions(_POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
			add_compile_options(-Wall -Wextra -Wno-unused-parameter)
			find_package(Threads REQUIRED)
			find_package(nng REQUIRED)
			find_package(PkgConfig REQUIRED)
			pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
			pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
			find_program(PROTOC_C protoc-c REQUIRED)
			add_subdirectory($SRC/proto proto)
			add_subdirectory($ROOT/tools/bench bench)
		EOF
		cmake -S "$SA/src" -B "$SA/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
		cmake --build "$SA/build" -j"$(nproc)" >/dev/null
	fi
fi
for b in "$SVC" "$GW" "$FB"; do
	[ -x "$b" ] || { echo "bench.sh: $b was not built" >&2; exit 1; }
done

# ---- scratch, processes, cleanup -----------------------------------------

S=$(mktemp -d /tmp/flow-bench.XXXXXX)
chmod 755 "$S" # nginx workers may run as another user
mkdir -p "$S/data" "$S/logs" "$S/www" "$S/nginx" "$S/redis"
PIDS=()

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		# Bounded: a process that ignores SIGTERM for 10 s is killed.
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" -eq 1 ]; then
		log "scratch directory kept: $S"
	else
		rm -rf "$S"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "bench.sh: no free port found" >&2
	return 1
}

# Takes a reaped process off the cleanup list (its pid may be reused).
forget_pid() {
	local keep=() p
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=(${keep[@]+"${keep[@]}"})
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

die_with_log() {
	echo "bench.sh: $1" >&2
	[ -f "$2" ] && tail -20 "$2" >&2
	exit 1
}

if [ "$TRANSPORT" = ipc ]; then
	BACKEND=ipc://$S/flow-service.ipc
else
	BACKEND=tcp://127.0.0.1:$(free_port)
fi
GW_PORT=$(free_port)
[ "$BACKEND" != "tcp://127.0.0.1:$GW_PORT" ] || GW_PORT=$(free_port)
REST=http://127.0.0.1:$GW_PORT

SVC_PID=""
start_service() {
	"$SVC" --listen "$BACKEND" --data-dir "$S/data" --fsync everysec \
		2>>"$S/logs/flow-service.log" &
	SVC_PID=$!
	PIDS+=("$SVC_PID")
}

# Waits for the backend's HEALTH; prints flow-bench's result line.
wait_service() {
	local out
	out=$("$FB" wait --backend "$BACKEND" --duration "$1") ||
		die_with_log "flow-service did not answer HEALTH" \
			"$S/logs/flow-service.log"
	kill -0 "$SVC_PID" 2>/dev/null ||
		die_with_log "flow-service exited" "$S/logs/flow-service.log"
	echo "$out"
}

wait_ready() {
	for _ in $(seq 300); do
		if curl -sf -o /dev/null "$REST/readyz"; then
			return 0
		fi
		kill -0 "$GW_PID" 2>/dev/null ||
			die_with_log "flow-gateway exited" "$S/logs/flow-gateway.log"
		sleep 0.05
	done
	die_with_log "flow-gateway not ready after 15 s" "$S/logs/flow-gateway.log"
}

# key=value from a result line: kv LINE KEY
kv() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"$1" | head -1; }

log "machine load before: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

start_service
wait_service 30 >/dev/null
RSS_EMPTY=$(rss_kb "$SVC_PID")
"$GW" --port "$GW_PORT" --backend "$BACKEND" 2>"$S/logs/flow-gateway.log" &
GW_PID=$!
PIDS+=("$GW_PID")
wait_ready
log "flow-service pid $SVC_PID on $BACKEND, flow-gateway pid $GW_PID on $REST"

# ---- seed ----------------------------------------------------------------

IDS=$S/ids.txt
log "seeding $FLOWS flows ($SEED_INFLIGHT in flight)"
SEED=$("$FB" seed --backend "$BACKEND" --count "$FLOWS" --inflight "$SEED_INFLIGHT" \
	--ids "$IDS" --timeout-ms 30000) || die_with_log "seeding failed" "$S/logs/flow-service.log"
log "$SEED"
# Seeding triggers snapshots (one per --snapshot-changes); one still being
# written would share the cores with the first measurements. A Snapshot
# RPC answers once a snapshot that started after it is on disk, so after
# it the backend is quiet.
"$FB" snapshot --backend "$BACKEND" --timeout-ms 120000 --quiet >/dev/null ||
	log "settling snapshot failed (see logs)"
RSS_SEEDED=$(rss_kb "$SVC_PID")

# A real GET response is the static file nginx serves, so sizes match.
FIRST_ID=$(head -1 "$IDS")
curl -sf "$REST/api/flows/$FIRST_ID/" -o "$S/www/flow.json" ||
	die_with_log "GET of a seeded flow failed" "$S/logs/flow-gateway.log"
chmod 644 "$S/www/flow.json"
BODY_BYTES=$(stat -c %s "$S/www/flow.json")
n=$(curl -sf "$REST/api/flows/?name__iexact=F0&group__iexact=G0" | grep -o '"id"' | wc -l)
[ "$n" -eq 1 ] || die_with_log "filter returned $n flows for f0/g0, not 1" \
	"$S/logs/flow-gateway.log"
log "a flow is $BODY_BYTES bytes of JSON"

# ---- full list -------------------------------------------------------------

# GET /api/flows/ of every seeded flow, streamed by the gateway page by
# page: time to the first byte and flows a second over the whole transfer
# (curl, to /dev/null), and the gateway's VmRSS before and at its highest
# while it streams (sampled every 20 ms). LIST_RUNS runs; the table shows
# each. curl fails on a body that does not end properly (a chunked stream
# cut short), and the count is the list's X-Total-Count.
LIST_RUNS=3
LIST_LINES=()
list_run() {
	local hdr=$S/list-headers.txt rss=$S/list-rss.txt out total sampler
	local before peak
	before=$(rss_kb "$GW_PID")
	: >"$rss"
	(
		while :; do
			while read -r k v _; do
				[ "$k" = VmRSS: ] && echo "$v"
			done <"/proc/$GW_PID/status"
			sleep 0.02
		done
	) >>"$rss" 2>/dev/null &
	sampler=$!
	out=$(curl -sS -o /dev/null -D "$hdr" \
		-w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}' \
		"$REST/api/flows/" 2>>"$S/logs/curl-list.log") || out="failed"
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	peak=$(sort -n "$rss" | tail -1)
	total=$(tr -d '\r' <"$hdr" | awk -F': ' 'tolower($1) == "x-total-count" {print $2}')
	# "status first_byte_s total_s bytes total before_kb peak_kb"
	echo "$out ${total:-0} $before ${peak:-$before}"
}
for i in $(seq "$LIST_RUNS"); do
	line=$(list_run)
	log "full list, run $i: $line (status first-byte-s total-s bytes X-Total-Count rss-before-kb rss-peak-kb)"
	LIST_LINES+=("$line")
done

# ---- result table state --------------------------------------------------

declare -A RPS P50 P99 NOTE
ROWS=()
record() { # record NAME RPS P50 P99 NOTE
	ROWS+=("$1")
	RPS[$1]=$2 P50[$1]=$3 P99[$1]=$4 NOTE[$1]=${5:-}
}
skip() { ROWS+=("$1"); RPS[$1]="" P50[$1]="" P99[$1]="" NOTE[$1]="skipped: $2"; }

# ---- wrk -----------------------------------------------------------------

cat >"$S/common.lua" <<'EOF'
-- Shared by the wrk scripts: ids loading, per-thread seeds, the result line.
-- The ids file (one 36-character uuid a line) is kept as one string: a
-- table of a million strings made LuaJIT's collector stall wrk's threads,
-- which showed up as a p99 of 10-50 ms in the GET run at 1M flows that
-- the server had nothing to do with.
local blob
nids = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function load_ids(path)
  local f = assert(io.open(path, "rb"))
  blob = f:read("*a")
  f:close()
  nids = math.floor(#blob / 37)
end
function random_id()
  local o = (math.random(nids) - 1) * 37 + 1
  return blob:sub(o, o + 35)
end
function seed_random()
  math.randomseed(os.time() * 100 + (tid or 0))
end
function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "WRK requests=%d seconds=%.2f rps=%.0f p50_us=%.1f p99_us=%.1f non2xx=%d sockerr=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
cat >"$S/get.lua" <<'EOF'
-- GET /api/flows/<id>/ with random seeded ids. args: ids file
dofile(COMMON)
function init(args)
  load_ids(args[1])
  seed_random()
end
function request()
  return wrk.format("GET", "/api/flows/" .. random_id() .. "/")
end
EOF
cat >"$S/filter.lua" <<'EOF'
-- GET /api/flows/?name__iexact=F<i>&group__iexact=G<i%100>: random existing
-- pairs, upper case to exercise iexact. args: number of seeded flows
dofile(COMMON)
local n
function init(args)
  n = tonumber(args[1])
  seed_random()
end
function request()
  local i = math.random(n) - 1
  return wrk.format("GET", "/api/flows/?name__iexact=F" .. i ..
    "&group__iexact=G" .. (i % 100))
end
EOF
cat >"$S/create.lua" <<'EOF'
-- POST /api/flows/ with unique names. args: run tag
dofile(COMMON)
local tag, count = "", 0
local hdr = { ["Content-Type"] = "application/json" }
function init(args)
  tag = args[1]
end
function request()
  count = count + 1
  local body = '{"name":"r' .. tag .. '_' .. tid .. '_' .. count ..
    '","group":"bench","input_fields":["text","lang","user_id","session"],' ..
    '"output_fields":["reply","intent","confidence"]}'
  return wrk.format("POST", "/api/flows/", hdr, body)
end
EOF
cat >"$S/update.lua" <<'EOF'
-- PUT /api/flows/<id>/ on random seeded ids, alternating two field lists of
-- the same size. args: ids file
dofile(COMMON)
local hdr = { ["Content-Type"] = "application/json" }
local bodies = {
  '{"input_fields":["query","locale","user_id","channel"]}',
  '{"input_fields":["text","lang","user_id","session"]}',
}
function init(args)
  load_ids(args[1])
  seed_random()
end
function request()
  return wrk.format("PUT", "/api/flows/" .. random_id() .. "/",
    hdr, bodies[math.random(2)])
end
EOF
cat >"$S/static.lua" <<'EOF'
-- The same request every time (nginx's static file): only the result line.
dofile(COMMON)
EOF
# wrk runs the script in several Lua states; each finds common.lua by path.
for f in get filter create update static; do
	sed -i "1a COMMON = \"$S/common.lua\"" "$S/$f.lua"
done

# CPU time and context switches of our servers over one measurement, per
# request: where the time goes without a profiler. /proc/PID/stat fields 14
# and 15 are user and system ticks of the whole process; context switches
# are summed over its threads.
CLK_TCK=$(getconf CLK_TCK)
proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
proc_cs() { # 0 for a process that is gone (no gateway in step 12's reference)
	{ cat /proc/"$1"/task/*/status 2>/dev/null || true; } |
		awk '/ctxt_switches/ {s += $2} END {print s + 0}'
}
probe_begin() {
	PROBE_GW_CPU=$(proc_cpu "$GW_PID") PROBE_GW_CS=$(proc_cs "$GW_PID")
	PROBE_SVC_CPU=$(proc_cpu "$SVC_PID") PROBE_SVC_CS=$(proc_cs "$SVC_PID")
}
# probe_end REQUESTS WITH_GATEWAY: prints "gw 56 µs 2.9 cs, svc ..."
probe_end() {
	local n=$1 gw=$2 out=""
	[ "$n" -gt 0 ] || return 0
	if [ "$gw" -eq 1 ]; then
		out=$(awk -v c="$(($(proc_cpu "$GW_PID") - PROBE_GW_CPU))" \
			-v s="$(($(proc_cs "$GW_PID") - PROBE_GW_CS))" -v n="$n" -v t="$CLK_TCK" \
			'BEGIN {printf "gw %.0f µs %.1f cs, ", c * 1e6 / t / n, s / n}')
	fi
	awk -v c="$(($(proc_cpu "$SVC_PID") - PROBE_SVC_CPU))" \
		-v s="$(($(proc_cs "$SVC_PID") - PROBE_SVC_CS))" -v n="$n" -v t="$CLK_TCK" \
		-v p="$out" 'BEGIN {printf "%ssvc %.0f µs %.1f cs", p, c * 1e6 / t / n, s / n}'
}

# run_wrk NAME URL SCRIPT [ARGS...]; against the gateway unless the URL is
# someone else's (nginx)
run_wrk() {
	local name=$1 url=$2 script=$3 out line note=""
	shift 3
	if [ "$HAVE_WRK" -eq 0 ]; then
		skip "$name" "no wrk"
		return 0
	fi
	log "$name: wrk -t${WRK_T:-2} -c${WRK_C:-32} -d${DURATION}s"
	probe_begin
	out=$(wrk -t"${WRK_T:-2}" -c"${WRK_C:-32}" -d"${DURATION}s" --latency -s "$script" "$url" \
		${1+--} "$@" 2>&1) || true
	echo "$out" >>"$S/logs/wrk.log"
	line=$(grep '^WRK ' <<<"$out" || true)
	if [ -z "$line" ]; then
		skip "$name" "wrk failed: $(tail -1 <<<"$out")"
		return 0
	fi
	[ "$url" != "$REST" ] || note="per request: $(probe_end "$(kv "$line" requests)" 1)"
	[ "$(kv "$line" non2xx)" = 0 ] || note="$note; $(kv "$line" non2xx) non-2xx responses!"
	[ "$(kv "$line" sockerr)" = 0 ] || note="$note; $(kv "$line" sockerr) socket errors"
	record "$name" "$(kv "$line" rps)" "$(kv "$line" p50_us)" \
		"$(kv "$line" p99_us)" "$note"
}

# run_fb NAME MODE INFLIGHT [ARGS...]; sets FB_LINE
run_fb() {
	local name=$1 mode=$2 inflight=$3 note=""
	shift 3
	log "$name: flow-bench $mode --inflight $inflight --duration $DURATION"
	probe_begin
	FB_LINE=$("$FB" "$mode" --backend "$BACKEND" --inflight "$inflight" \
		--duration "$DURATION" --quiet "$@" 2>>"$S/logs/flow-bench.log") || true
	if [ -z "$FB_LINE" ]; then
		skip "$name" "flow-bench failed (see logs)"
		return 0
	fi
	note="per request: $(probe_end "$(kv "$FB_LINE" ok)" 0)"
	[ "$(kv "$FB_LINE" errors)" = 0 ] || note="$note; $(kv "$FB_LINE" errors) failed calls!"
	record "$name" "$(kv "$FB_LINE" rps)" "$(kv "$FB_LINE" p50_us)" \
		"$(kv "$FB_LINE" p99_us)" "$note"
}

# ---- reads ---------------------------------------------------------------

run_wrk "REST GET /api/flows/<id>/" "$REST" "$S/get.lua" "$IDS"
run_wrk "REST filter name+group" "$REST" "$S/filter.lua" "$FLOWS"
run_fb "RPC Get, 1 in flight" get 1 --ids "$IDS"
run_fb "RPC Get, 32 in flight" get 32 --ids "$IDS"
run_fb "RPC Get, 32 in flight, coalesced" get 32 --ids "$IDS" --coalesce 1

# run_nginx NAME SCHEME [SERVER_LINES]: nginx serving the static file that
# holds a real GET response (same size), measured with wrk; https with
# SERVER_LINES naming the certificate.
run_nginx() {
	local name=$1 scheme=$2 extra=${3:-} port ok=0 listen
	if [ "$HAVE_NGINX" -ne 1 ] || [ "$HAVE_WRK" -ne 1 ]; then
		skip "$name" "no nginx or no wrk"
		return 0
	fi
	port=$(free_port)
	listen="127.0.0.1:$port"
	[ "$scheme" = http ] || listen="$listen ssl"
	mkdir -p "$S/nginx/tmp"
	cat >"$S/nginx/nginx.conf" <<-EOF
		daemon off;
		worker_processes auto;
		pid $S/nginx/nginx.pid;
		error_log $S/nginx/error.log warn;
		events { worker_connections 1024; }
		http {
		    access_log off;
		    client_body_temp_path $S/nginx/tmp/body;
		    proxy_temp_path $S/nginx/tmp/proxy;
		    fastcgi_temp_path $S/nginx/tmp/fastcgi;
		    uwsgi_temp_path $S/nginx/tmp/uwsgi;
		    scgi_temp_path $S/nginx/tmp/scgi;
		    keepalive_requests 1000000;
		    server {
		        listen $listen;
		        $extra
		        location / {
		            root $S/www;
		            default_type application/json;
		        }
		    }
		}
	EOF
	nginx -p "$S/nginx" -c "$S/nginx/nginx.conf" 2>"$S/logs/nginx.log" &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	for _ in $(seq 100); do
		if curl -sfk -o /dev/null "$scheme://127.0.0.1:$port/flow.json"; then
			ok=1
			break
		fi
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ "$ok" -eq 1 ]; then
		run_wrk "$name" "$scheme://127.0.0.1:$port/flow.json" "$S/static.lua"
	else
		skip "$name" "nginx did not start ($(tail -1 "$S/logs/nginx.log" 2>/dev/null))"
	fi
	kill -TERM "$NGINX_PID" 2>/dev/null || true
	wait "$NGINX_PID" 2>/dev/null || true
	forget_pid "$NGINX_PID"
}

NGINX_PID=""
run_nginx "nginx static file (same size)" http

if [ "$HAVE_REDIS" -eq 1 ]; then
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$S/redis" --daemonize no \
		>"$S/logs/redis.log" 2>&1 &
	REDIS_PID=$!
	PIDS+=("$REDIS_PID")
	ok=0
	for _ in $(seq 100); do
		if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
			ok=1
			break
		fi
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ "$ok" -eq 1 ]; then
		log "redis GET: redis-benchmark -t set,get -c 32 -P 1 -n 200000 -d $BODY_BYTES"
		# SET first, so that GET returns values of a flow's size.
		out=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t set,get \
			-c 32 -P 1 -n 200000 -d "$BODY_BYTES" --csv 2>&1) || true
		echo "$out" >>"$S/logs/redis-benchmark.log"
		# "GET","rps","avg_ms","min_ms","p50_ms","p95_ms","p99_ms","max_ms"
		line=$(grep '^"GET"' <<<"$out" | tr -d '"' || true)
		if [ -n "$line" ]; then
			IFS=, read -r _ r _ _ p50 _ p99 _ <<<"$line"
			record "redis GET (redis-benchmark -c 32 -P 1)" \
				"$(printf '%.0f' "$r")" \
				"$(awk -v v="$p50" 'BEGIN{printf "%.1f", v*1000}')" \
				"$(awk -v v="$p99" 'BEGIN{printf "%.1f", v*1000}')" ""
		else
			skip "redis GET (redis-benchmark -c 32 -P 1)" "redis-benchmark failed"
		fi
	else
		skip "redis GET (redis-benchmark -c 32 -P 1)" "redis-server did not start"
	fi
	kill -TERM "$REDIS_PID" 2>/dev/null || true
	wait "$REDIS_PID" 2>/dev/null || true
	forget_pid "$REDIS_PID"
else
	skip "redis GET (redis-benchmark -c 32 -P 1)" "no redis-server/redis-benchmark"
fi

# ---- snapshot under load, restart ----------------------------------------

SNAP_DUR=$((DURATION < 5 ? 5 : DURATION))
log "RPC Get, 32 in flight, for ${SNAP_DUR}s with a Snapshot RPC 1 s in"
SNAP_LINE=$("$FB" get --backend "$BACKEND" --inflight 32 --duration "$SNAP_DUR" \
	--snapshot-at 1 --ids "$IDS" --quiet 2>>"$S/logs/flow-bench.log") || true
log "${SNAP_LINE:-snapshot run failed}"

log "stopping flow-service (SIGTERM: final snapshot)"
t0=$(date +%s%N)
kill -TERM "$SVC_PID"
stopped=0
for _ in $(seq 1200); do
	kill -0 "$SVC_PID" 2>/dev/null || { stopped=1; break; }
	sleep 0.05
done
[ "$stopped" -eq 1 ] || die_with_log "flow-service did not stop within 60 s" \
	"$S/logs/flow-service.log"
svc_rc=0
wait "$SVC_PID" || svc_rc=$?
forget_pid "$SVC_PID"
STOP_MS=$((($(date +%s%N) - t0) / 1000000))
[ "$svc_rc" -eq 0 ] || die_with_log "flow-service exited $svc_rc on SIGTERM" \
	"$S/logs/flow-service.log"
DATA_KB=$(du -sk "$S/data" | cut -f1)

log "restarting flow-service on the same data dir"
t0=$(date +%s%N)
start_service
WAIT_LINE=$(wait_service 120)
START_MS=$((($(date +%s%N) - t0) / 1000000))
RSS_RESTART=$(rss_kb "$SVC_PID")
log "answered HEALTH after ${START_MS} ms: $WAIT_LINE"
[ "$(kv "$WAIT_LINE" flows)" = "$FLOWS" ] ||
	log "WARNING: $(kv "$WAIT_LINE" flows) flows after restart, expected $FLOWS"
wait_ready

# ---- writes --------------------------------------------------------------

run_wrk "REST create (POST)" "$REST" "$S/create.lua" "$(date +%s)"
run_wrk "REST update (PUT)" "$REST" "$S/update.lua" "$IDS"
run_fb "RPC Create, 1 in flight" create 1 --prefix "p1_$(date +%s)_"
run_fb "RPC Create, 32 in flight" create 32 --prefix "p32_$(date +%s)_"

# ---- hostile body ----------------------------------------------------------

# A 1 MiB body of 96,000 unknown keys ({"kaaaa":0,...}, ~940 KiB), PUT to a
# seeded flow back to back by one client while wrk reads with 8
# connections; the same wrk run alone first. Goal (ENGINEERING.md): each
# answered 400 in <= 0.5 s, others' GET p99 <= 10 ms meanwhile.
HOSTILE=$S/hostile.json
awk 'BEGIN { a = "abcdefghijklmnopqrstuvwxyz0123456789"; printf "{";
	for (i = 0; i < 96000; i++) { k = i; s = "";
		for (j = 0; j < 4; j++) { s = substr(a, k % 36 + 1, 1) s; k = int(k / 36) }
		printf "%s\"k%s\":0", (i ? "," : ""), s }
	printf "}" }' >"$HOSTILE"
HOSTILE_BYTES=$(stat -c %s "$HOSTILE")
WRK_T=1 WRK_C=8 run_wrk "REST GET, 8 connections" "$REST" "$S/get.lua" "$IDS"
log "hostile bodies: PUT of $HOSTILE_BYTES bytes back to back for ${DURATION}s"
: >"$S/hostile-times.txt"
(
	end=$(($(date +%s) + DURATION))
	while [ "$(date +%s)" -lt "$end" ]; do
		curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X PUT \
			-H 'Content-Type: application/json' --data-binary @"$HOSTILE" \
			"$REST/api/flows/$FIRST_ID/" >>"$S/hostile-times.txt" || true
	done
) &
HOSTILE_PID=$!
PIDS+=("$HOSTILE_PID")
WRK_T=1 WRK_C=8 run_wrk "REST GET, 8 connections, hostile bodies meanwhile" \
	"$REST" "$S/get.lua" "$IDS"
wait "$HOSTILE_PID" || true
forget_pid "$HOSTILE_PID"
# n, how many were 400, median and max seconds to the answer
HOSTILE_400=$(awk '$1 == 400' "$S/hostile-times.txt" | wc -l)
HOSTILE_LINE=$(awk '{ print $2 }' "$S/hostile-times.txt" | sort -n |
	awk -v ok="$HOSTILE_400" '{ t[NR] = $1 }
	END { if (NR == 0) { print "0 0 - -"; exit }
		printf "%d %d %.3f %.3f\n", NR, ok, t[int((NR + 1) / 2)], t[NR] }')
log "hostile bodies: $HOSTILE_LINE (count, 400s, median s, max s)"

# ---- watch over SSE ------------------------------------------------------

# Goal (ENGINEERING.md): a change reaches 1,000 SSE clients of one gateway
# with p99 <= 50 ms, and GET beside them >= 0.9 x without them.
SSE_ROWS=0
SSE_LINE=""
FSB=$OBJ/tools/bench/flow-sse-bench
if [ "$SSE" -eq 1 ] && [ ! -x "$FSB" ]; then
	log "no flow-sse-bench in this build: skipping the SSE measurements"
elif [ "$SSE" -eq 1 ]; then
	ulimit -n 8192 2>/dev/null || true
	SSE_PORT=$(free_port)
	"$GW" --port "$SSE_PORT" --backend "$BACKEND" --max-conns 2048 \
		--max-conns-per-ip 0 --watch-max-clients 1100 \
		2>"$S/logs/flow-gateway-sse.log" &
	SSE_GW_PID=$!
	PIDS+=("$SSE_GW_PID")
	for _ in $(seq 300); do
		curl -sf -o /dev/null "http://127.0.0.1:$SSE_PORT/readyz" && break
		sleep 0.05
	done
	SSE_REST=http://127.0.0.1:$SSE_PORT
	run_wrk "REST GET, SSE gateway, no streams" "$SSE_REST" "$S/get.lua" "$IDS"
	SSE_RSS_IDLE=$(rss_kb "$SSE_GW_PID")
	log "watch over SSE: 1000 streams, 50 changes, then GET beside them"
	"$FSB" --port "$SSE_PORT" --clients 1000 --changes 50 --pause-ms 20 \
		--hold-s $((DURATION + 10)) >"$S/sse-bench.out" \
		2>>"$S/logs/flow-sse-bench.log" &
	FSB_PID=$!
	PIDS+=("$FSB_PID")
	for _ in $(seq 1200); do
		grep -q '^holding' "$S/sse-bench.out" 2>/dev/null && break
		kill -0 "$FSB_PID" 2>/dev/null || break
		sleep 0.05
	done
	SSE_LINE=$(grep '^fanout ' "$S/sse-bench.out" || true)
	if [ -n "$SSE_LINE" ]; then
		SSE_RSS_STREAMS=$(rss_kb "$SSE_GW_PID")
		log "$SSE_LINE"
		run_wrk "REST GET, SSE gateway, 1000 streams open" "$SSE_REST" \
			"$S/get.lua" "$IDS"
		SSE_ROWS=1
	else
		log "flow-sse-bench failed (see $S/logs/flow-sse-bench.log)"
	fi
	wait "$FSB_PID" || true
	forget_pid "$FSB_PID"
	kill -TERM "$SSE_GW_PID" 2>/dev/null || true
	wait "$SSE_GW_PID" || true
	forget_pid "$SSE_GW_PID"
fi

# ---- watches over RPC ------------------------------------------------------

# Parked watches (ENGINEERING.md: 10,000 on one backend, <= 4 KiB each, Get
# p99 unchanged) and watchers that every change wakes (create throughput
# with 1,000 of them >= 0.8 x without). flow-bench watch keeps its calls
# parked until SIGTERM, then wakes them with one change in their group (a
# watch whose client closed would stay parked in the backend until its
# wait ends) and prints its result line.
WATCH_ROWS=0
W_PARKED=10000
W_ACTIVE=1000
# start_watchers NAME COUNT [ARGS...]: sets W_PID, W_OUT; returns once all
# wait (or after 90 s)
start_watchers() {
	local name=$1 count=$2
	shift 2
	rm -f "$S/watch-ready"
	W_OUT=$S/watch-$name.txt
	"$FB" watch --backend "$BACKEND" --count "$count" --duration 3600 \
		--ready-file "$S/watch-ready" "$@" \
		>"$W_OUT" 2>>"$S/logs/flow-bench.log" &
	W_PID=$!
	PIDS+=("$W_PID")
	for _ in $(seq 1800); do
		[ -e "$S/watch-ready" ] && return 0
		kill -0 "$W_PID" 2>/dev/null || break
		sleep 0.05
	done
	log "watchers ($name) not ready: see $S/logs/flow-bench.log"
	return 1
}
stop_watchers() {
	kill -TERM "$W_PID" 2>/dev/null || true
	wait "$W_PID" 2>/dev/null || true
	forget_pid "$W_PID"
	log "watchers: $(cat "$W_OUT" 2>/dev/null)"
}
if [ "$WATCH" -eq 1 ]; then
	WATCH_ROWS=1
	ulimit -n 4096 2>/dev/null || true
	run_fb "RPC Get, 32 in flight, no watches" get 32 --ids "$IDS"
	RSS_W0=$(rss_kb "$SVC_PID")
	log "parking $W_PARKED watches (flow-bench watch, $((W_PARKED / 1000)) clients)"
	if start_watchers parked "$W_PARKED"; then
		RSS_W1=$(rss_kb "$SVC_PID")
		run_fb "RPC Get, 32 in flight, $W_PARKED watches parked" get 32 --ids "$IDS"
	else
		RSS_W1=""
		skip "RPC Get, 32 in flight, $W_PARKED watches parked" "watches not parked"
	fi
	stop_watchers
	W_PARKED_LINE=$(cat "$W_OUT" 2>/dev/null || true)
	run_fb "RPC Create, 32 in flight, no watchers" create 32 --prefix "w0_$(date +%s)_"
	log "$W_ACTIVE watchers of another group"
	if start_watchers other "$W_ACTIVE"; then
		run_fb "RPC Create, 32 in flight, $W_ACTIVE watchers of another group" \
			create 32 --prefix "w2_$(date +%s)_"
	else
		skip "RPC Create, 32 in flight, $W_ACTIVE watchers of another group" "watchers not ready"
	fi
	stop_watchers
	log "$W_ACTIVE watchers of every change"
	if start_watchers active "$W_ACTIVE" --group ""; then
		run_fb "RPC Create, 32 in flight, $W_ACTIVE watchers of every change" \
			create 32 --prefix "w1_$(date +%s)_"
	else
		skip "RPC Create, 32 in flight, $W_ACTIVE watchers of every change" "watchers not ready"
	fi
	stop_watchers
	W_ACTIVE_LINE=$(cat "$W_OUT" 2>/dev/null || true)
fi

# ---- replicas --------------------------------------------------------------

# What this build's flow-service takes (read whole: grep -q ending the
# pipe early would fail it under pipefail).
SVC_HELP=$("$SVC" --help 2>/dev/null || true)

# A replica of the backend as it is now: how long until it has everything
# (bootstrap), then its lag behind the primary under a create load.
REPL_ROWS=0
REPL_BOOT_MS="" REPL_BOOT_HOW="" REPL_LINE="" REPL_RSS=""
LAG=$OBJ/tools/bench/flow-repl-lag
if [ "$REPLICAS" -eq 1 ] && [ -x "$LAG" ] &&
	grep -q -- --replica-of <<<"$SVC_HELP"; then
	REPL_ROWS=1
	REPLICA=tcp://127.0.0.1:$(free_port)
	mkdir -p "$S/replica"
	WANT=$("$OBJ/tools/flowctl" --json --backend "$BACKEND" health |
		sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
	log "replica: bootstrap of a replica of $FLOWS+ flows (revision $WANT)"
	T0=$(date +%s%N)
	"$SVC" --listen "$REPLICA" --data-dir "$S/replica" --fsync everysec \
		--replica-of "$BACKEND" 2>>"$S/logs/replica.log" &
	REPL_PID=$!
	PIDS+=("$REPL_PID")
	for _ in $(seq 1200); do
		GOT=$("$OBJ/tools/flowctl" --json --timeout 1000 --backend "$REPLICA" \
			health 2>/dev/null | sed -n 's/.*"revision":\([0-9]*\).*/\1/p') || true
		[ "$GOT" = "$WANT" ] && break
		sleep 0.05
	done
	if [ "${GOT:-}" = "$WANT" ]; then
		REPL_BOOT_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
		if grep -q "bootstrapped from" "$S/logs/replica.log"; then
			REPL_BOOT_HOW="snapshot ($(sed -n 's/.*(\([0-9]*\) bytes).*/\1/p' \
				"$S/logs/replica.log" | tail -1) bytes) copied, then loaded"
		else
			REPL_BOOT_HOW="every change from revision 1 (the logs still hold them)"
		fi
		REPL_RSS=$(rss_kb "$REPL_PID")
		log "replica: lag at $REPL_RATE creates/s for ${DURATION}s"
		REPL_LINE=$("$LAG" --primary "$BACKEND" --replica "$REPLICA" \
			--rate "$REPL_RATE" --duration "$DURATION" \
			2>>"$S/logs/replica.log") || true
	else
		REPL_BOOT_MS="did not catch up in 60 s (see logs)"
	fi
	kill "$REPL_PID" 2>/dev/null || true
	wait "$REPL_PID" 2>/dev/null || true
	forget_pid "$REPL_PID"
fi

# ---- reads over replicas --------------------------------------------------

# Reads through a gateway over the primary and two replicas of it, against
# the gateway over the primary alone: GET by id throughput, and the
# primary's CPU per read over each run (its utime + stime from /proc).
# Goal (issue 15): the primary's CPU per read about a third, total reads
# >= 1.0 x a single backend on this machine (all of it on the same cores).
SPREAD_ROWS=0
if [ "$REPLICAS" -eq 1 ] && [ "$HAVE_WRK" -eq 1 ] &&
	grep -q -- --replica-of <<<"$SVC_HELP"; then
	SP_URLS=() SP_PIDS=()
	WANT=$("$OBJ/tools/flowctl" --json --backend "$BACKEND" health |
		sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
	for k in 1 2; do
		url=tcp://127.0.0.1:$(free_port)
		mkdir -p "$S/spread$k"
		"$SVC" --listen "$url" --data-dir "$S/spread$k" --fsync everysec \
			--replica-of "$BACKEND" 2>>"$S/logs/spread-replicas.log" &
		SP_PIDS+=($!)
		PIDS+=($!)
		SP_URLS+=("$url")
	done
	log "reads over replicas: two replicas catching up to revision $WANT"
	for url in "${SP_URLS[@]}"; do
		for _ in $(seq 1200); do
			GOT=$("$OBJ/tools/flowctl" --json --timeout 1000 --backend "$url" \
				health 2>/dev/null | sed -n 's/.*"revision":\([0-9]*\).*/\1/p') || true
			[ "${GOT:-}" = "$WANT" ] && break
			sleep 0.05
		done
	done
	SP_PORT=$(free_port)
	"$GW" --port "$SP_PORT" --backend "$BACKEND" --backend "${SP_URLS[0]}" \
		--backend "${SP_URLS[1]}" 2>>"$S/logs/flow-gateway-spread.log" &
	SP_GW_PID=$!
	PIDS+=("$SP_GW_PID")
	for _ in $(seq 300); do
		curl -sf -o /dev/null "http://127.0.0.1:$SP_PORT/readyz" && break
		sleep 0.05
	done
	reps_cpu() { echo $(($(proc_cpu "${SP_PIDS[0]}") + $(proc_cpu "${SP_PIDS[1]}"))); }
	# Measure idle backends: replicas that have just caught up, and the
	# primary after the lag step's creates, may still be writing a
	# snapshot. Until the three used at most 2 ticks (of CLK_TCK a
	# second) over half a second, for at most 10 s.
	for _ in $(seq 20); do
		a=$(($(proc_cpu "$SVC_PID") + $(reps_cpu)))
		sleep 0.5
		b=$(($(proc_cpu "$SVC_PID") + $(reps_cpu)))
		[ $((b - a)) -le 2 ] && break
	done
	c0=$(proc_cpu "$SVC_PID") g0=$(proc_cpu "$GW_PID")
	run_wrk "REST GET, gateway over the primary alone" "$REST" "$S/get.lua" "$IDS"
	c1=$(proc_cpu "$SVC_PID") g1=$(proc_cpu "$GW_PID")
	r1=$(reps_cpu) s1=$(proc_cpu "$SP_GW_PID")
	run_wrk "REST GET, gateway over the primary and 2 replicas" \
		"http://127.0.0.1:$SP_PORT" "$S/get.lua" "$IDS"
	c2=$(proc_cpu "$SVC_PID") r2=$(reps_cpu) s2=$(proc_cpu "$SP_GW_PID")
	SP_CPU_ONE=$((c1 - c0)) SP_CPU_SPREAD=$((c2 - c1))
	SP_GW_ONE=$((g1 - g0)) SP_GW_SPREAD=$((s2 - s1)) SP_REPS=$((r2 - r1))
	SPREAD_ROWS=1
	for pid in "$SP_GW_PID" "${SP_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		forget_pid "$pid"
	done
fi

# ---- TLS -----------------------------------------------------------------

# The same data served again with transport security: the backend restarted
# on tls+tcp:// (mutual TLS), an HTTPS gateway in front of it that reaches
# it with a client certificate, and nginx serving the same file over HTTPS
# with the same certificate (tools/tls-dev.sh makes them: EC P-256).
TLS_ROWS=0
if [ "$TLS" -eq 1 ] && command -v openssl >/dev/null 2>&1; then
	TLS_ROWS=1
	"$ROOT/tools/tls-dev.sh" "$S/tls" >/dev/null 2>&1 ||
		die_with_log "tools/tls-dev.sh failed" /dev/null
	T=$S/tls
	log "TLS: restarting flow-service on tls+tcp:// and the gateway on HTTPS"
	for pid in "$GW_PID" "$SVC_PID"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		forget_pid "$pid"
	done
	# The reference for the tls+tcp:// rows: the backend restarted on its
	# plain address from the same data, as the TLS one is next (the data
	# dir holds the later steps' writes by now, unlike step 5's).
	start_service
	wait_service 60 >/dev/null
	run_fb "RPC Get, 32 in flight, $TRANSPORT:// (TLS step's reference)" get 32 --ids "$IDS"
	run_fb "RPC Get, 32 in flight, coalesced, $TRANSPORT:// (TLS step's reference)" get 32 \
		--ids "$IDS" --coalesce 1
	kill -TERM "$SVC_PID" 2>/dev/null || true
	wait "$SVC_PID" 2>/dev/null || true
	forget_pid "$SVC_PID"
	BACKEND_PLAIN=$BACKEND
	BACKEND=tls+tcp://127.0.0.1:$(free_port)
	FB_TLS=(--backend-cert "$T/client.pem" --backend-key "$T/client.key"
		--backend-ca "$T/ca.pem" --backend-server-name localhost)
	"$SVC" --listen "$BACKEND" --data-dir "$S/data" --fsync everysec \
		--tls-cert "$T/server.pem" --tls-key "$T/server.key" --tls-ca "$T/ca.pem" \
		2>>"$S/logs/flow-service.log" &
	SVC_PID=$!
	PIDS+=("$SVC_PID")
	"$FB" wait --backend "$BACKEND" "${FB_TLS[@]}" --duration 60 >/dev/null ||
		die_with_log "flow-service on tls+tcp:// did not answer" "$S/logs/flow-service.log"
	GW_PORT=$(free_port)
	REST=https://127.0.0.1:$GW_PORT
	"$GW" --port "$GW_PORT" --tls-cert "$T/server.pem" --tls-key "$T/server.key" \
		--backend "$BACKEND" "${FB_TLS[@]}" 2>>"$S/logs/flow-gateway.log" &
	GW_PID=$!
	PIDS+=("$GW_PID")
	ok=0
	for _ in $(seq 300); do
		if curl -sf --cacert "$T/ca.pem" --resolve "localhost:$GW_PORT:127.0.0.1" \
			-o /dev/null "https://localhost:$GW_PORT/readyz"; then
			ok=1
			break
		fi
		kill -0 "$GW_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ "$ok" -eq 1 ] || die_with_log "the HTTPS gateway is not ready" "$S/logs/flow-gateway.log"
	run_wrk "HTTPS GET /api/flows/<id>/ (backend over mTLS)" "$REST" "$S/get.lua" "$IDS"
	run_nginx "nginx static file over HTTPS (same certificate)" https \
		"ssl_certificate $T/server.pem; ssl_certificate_key $T/server.key; ssl_protocols TLSv1.2 TLSv1.3;"
	run_fb "RPC Get, 32 in flight, tls+tcp:// (mTLS)" get 32 --ids "$IDS" "${FB_TLS[@]}"
	run_fb "RPC Get, 32 in flight, coalesced, tls+tcp:// (mTLS)" get 32 --ids "$IDS" \
		--coalesce 1 "${FB_TLS[@]}"
	BACKEND=$BACKEND_PLAIN
elif [ "$TLS" -eq 1 ]; then
	log "no openssl: no TLS numbers"
fi

# ---- profile (optional) --------------------------------------------------

PERF_OUT=""
if [ "$PERF" -eq 1 ]; then
	if [ "$HAVE_PERF" -eq 1 ] && [ "$HAVE_WRK" -eq 1 ]; then
		log "perf: profiling gateway and backend during a REST GET run"
		pd=$((DURATION > 2 ? DURATION - 2 : 1))
		perf record -F 999 -p "$GW_PID" -o "$S/perf-gw.data" -- sleep "$pd" \
			>/dev/null 2>"$S/logs/perf-gw.log" &
		p1=$!
		perf record -F 999 -p "$SVC_PID" -o "$S/perf-svc.data" -- sleep "$pd" \
			>/dev/null 2>"$S/logs/perf-svc.log" &
		p2=$!
		wrk -t2 -c32 -d"${DURATION}s" -s "$S/get.lua" "$REST" -- "$IDS" \
			>>"$S/logs/wrk.log" 2>&1 || true
		wait "$p1" || true
		wait "$p2" || true
		for w in gw svc; do
			[ -s "$S/perf-$w.data" ] || continue
			PERF_OUT+=$'\n'"### perf: top symbols, $([ $w = gw ] && echo flow-gateway || echo flow-service) (self time)"$'\n\n```\n'
			PERF_OUT+=$(perf report -i "$S/perf-$w.data" --stdio --no-children \
				--sort dso 2>/dev/null | grep -E '^ +[0-9.]+%' | head -6 || true)
			PERF_OUT+=$'\n\n'
			PERF_OUT+=$(perf report -i "$S/perf-$w.data" --stdio --no-children \
				--sort dso,symbol 2>/dev/null |
				grep -E '^ +[0-9.]+%' | sed 's/[ -]*$//' | head -25 || true)
			PERF_OUT+=$'\n```\n'
		done
	else
		PERF_OUT=$'\n(perf profile skipped: no perf or no wrk)\n'
	fi
fi

# ---- report --------------------------------------------------------------

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ratio A B: A/B with two decimals, or "n/a"
ratio() {
	local a=${RPS[$1]:-} b=${RPS[$2]:-}
	if [ -n "$a" ] && [ -n "$b" ] && [ "$b" != 0 ]; then
		awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}'
	else
		echo "n/a"
	fi
}
# verdict VALUE GOAL
verdict() {
	[ "$1" = n/a ] && { echo "–"; return; }
	awk -v v="$1" -v g="$2" 'BEGIN{print (v >= g) ? "met" : "NOT met"}'
}
mib() { awk -v k="$1" 'BEGIN{printf "%.1f MiB", k/1024}'; }

G="REST GET /api/flows/<id>/"
report() {
	local r
	echo "## flowsvc benchmark: $FLOWS flows, ${DURATION}s per run, backend over $TRANSPORT"
	echo
	echo "Code: $CODE."
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $LOAD_BEFORE before, $LOAD_AFTER after; flow JSON $BODY_BYTES bytes; wrk -t2 -c32"
	echo
	echo "| benchmark | req/s | p50 µs | p99 µs | notes |"
	echo "| --- | ---: | ---: | ---: | --- |"
	for r in "${ROWS[@]}"; do
		echo "| $r | ${RPS[$r]} | ${P50[$r]} | ${P99[$r]} | ${NOTE[$r]} |"
	done
	echo
	echo "| ratio (goal) | value | |"
	echo "| --- | ---: | --- |"
	r=$(ratio "$G" "nginx static file (same size)")
	echo "| REST GET / nginx static (≥ 0.5, aim ≥ 1.0) | $r | $(verdict "$r" 0.5) |"
	r=$(ratio "REST filter name+group" "$G")
	echo "| REST filter / REST GET (≥ 0.9) | $r | $(verdict "$r" 0.9) |"
	r=$(ratio "REST create (POST)" "$G")
	echo "| REST create / REST GET (≥ 0.5) | $r | $(verdict "$r" 0.5) |"
	r=$(ratio "RPC Get, 32 in flight" "redis GET (redis-benchmark -c 32 -P 1)")
	echo "| RPC Get 32 in flight / redis GET (≥ 1.0) | $r | $(verdict "$r" 1.0) |"
	r=$(ratio "RPC Get, 32 in flight, coalesced" "redis GET (redis-benchmark -c 32 -P 1)")
	echo "| RPC Get 32 in flight, coalesced / redis GET | $r | $(verdict "$r" 1.0) |"
	if [ "$TLS_ROWS" -eq 1 ]; then
		r=$(ratio "HTTPS GET /api/flows/<id>/ (backend over mTLS)" "nginx static file over HTTPS (same certificate)")
		echo "| HTTPS GET / nginx over HTTPS, same certificate (≥ 0.5) | $r | $(verdict "$r" 0.5) |"
		r=$(ratio "RPC Get, 32 in flight, tls+tcp:// (mTLS)" "RPC Get, 32 in flight, $TRANSPORT:// (TLS step's reference)")
		echo "| RPC Get 32 in flight, tls+tcp:// / $TRANSPORT:// on the same data (≥ 0.5) | $r | $(verdict "$r" 0.5) |"
		r=$(ratio "RPC Get, 32 in flight, coalesced, tls+tcp:// (mTLS)" "RPC Get, 32 in flight, coalesced, $TRANSPORT:// (TLS step's reference)")
		echo "| RPC Get 32 in flight coalesced, tls+tcp:// / $TRANSPORT:// on the same data | $r | |"
		r=$(ratio "RPC Get, 32 in flight, tls+tcp:// (mTLS)" "RPC Get, 32 in flight")
		echo "| RPC Get 32 in flight, tls+tcp:// / step 5's $TRANSPORT:// (1,000 flows) | $r | |"
		r=$(ratio "HTTPS GET /api/flows/<id>/ (backend over mTLS)" "$G")
		echo "| HTTPS GET (mTLS behind) / plain REST GET | $r | |"
	fi
	echo
	echo "| backend | value |"
	echo "| --- | ---: |"
	echo "| seeding ($SEED_INFLIGHT in flight) | $(kv "$SEED" rps) flows/s ($(kv "$SEED" seconds) s) |"
	echo "| VmRSS empty | $(mib "$RSS_EMPTY") |"
	echo "| VmRSS after seeding $FLOWS flows | $(mib "$RSS_SEEDED") |"
	echo "| per flow, seeded ((after − empty) / flows; goal ≤ 1024 B at 1M) | $(( (RSS_SEEDED - RSS_EMPTY) * 1024 / FLOWS )) B |"
	echo "| VmRSS after restart (loaded from disk) | $(mib "$RSS_RESTART") |"
	echo "| per flow, loaded | $(( (RSS_RESTART - RSS_EMPTY) * 1024 / FLOWS )) B |"
	echo "| data dir after shutdown | $(mib "$DATA_KB") |"
	echo "| SIGTERM to exit (incl. final snapshot) | $STOP_MS ms |"
	echo "| restart until HEALTH answers (goal ≤ 3000 ms at 1M) | $START_MS ms |"
	if [ -n "$SNAP_LINE" ]; then
		echo "| Snapshot RPC under load | $(kv "$SNAP_LINE" snapshot_ms) ms |"
		echo "| RPC Get p99, 32 in flight, no snapshot | ${P99["RPC Get, 32 in flight"]:-n/a} µs |"
		echo "| RPC Get p99 during the snapshot (goal ≤ 10000 µs at 1M) | $(kv "$SNAP_LINE" during_p99_us) µs (max $(kv "$SNAP_LINE" during_max_us), $(kv "$SNAP_LINE" during_ok) calls) |"
	else
		echo "| Snapshot under load | failed (see logs) |"
	fi
	echo
	echo "| full list: GET /api/flows/ of $FLOWS flows, streamed (goal: first byte ≤ 100 ms, ≥ 200,000 flows/s, gateway RSS flat) | first byte | flows/s | MB/s | gateway VmRSS before → peak |"
	echo "| --- | ---: | ---: | ---: | ---: |"
	local i=0 line
	for line in "${LIST_LINES[@]}"; do
		i=$((i + 1))
		read -r lst lfb ltot lbytes lcount lb lp <<<"$line"
		if [ "$lst" != 200 ] || [ "$lcount" != "$FLOWS" ]; then
			echo "| run $i | failed: status $lst, X-Total-Count $lcount (see logs/curl-list.log) | | | |"
			continue
		fi
		awk -v fb="$lfb" -v t="$ltot" -v b="$lbytes" -v n="$lcount" -v i="$i" \
			-v rb="$lb" -v rp="$lp" 'BEGIN {
			printf "| run %d | %.0f ms | %.0f | %.0f | %.1f → %.1f MiB |\n",
				i, fb * 1000, n / t, b / t / 1e6, rb / 1024, rp / 1024 }'
	done
	echo
	read -r hn hok hmed hmax <<<"$HOSTILE_LINE"
	echo "| hostile body ($HOSTILE_BYTES bytes, 96k unknown keys, PUT back to back) | value |"
	echo "| --- | ---: |"
	echo "| bodies sent / answered 400 | $hn / $hok |"
	echo "| time to the 400, median / max (goal ≤ 0.5 s) | $hmed s / $hmax s |"
	echo "| others' GET p99, 8 connections, alone | ${P99["REST GET, 8 connections"]:-n/a} µs |"
	echo "| others' GET p99 meanwhile (goal ≤ 10000 µs) | ${P99["REST GET, 8 connections, hostile bodies meanwhile"]:-n/a} µs |"
	if [ "$SSE_ROWS" -eq 1 ]; then
		echo
		echo "| watch over SSE (1000 streams on one gateway) | value |"
		echo "| --- | ---: |"
		echo "| change to every stream, p50 / p99 / max (goal p99 ≤ 50 ms) | $(kv "$SSE_LINE" p50_us) / $(kv "$SSE_LINE" p99_us) / $(kv "$SSE_LINE" max_us) µs ($(kv "$SSE_LINE" samples) samples, $(kv "$SSE_LINE" missed) missed) |"
		r=$(ratio "REST GET, SSE gateway, 1000 streams open" "REST GET, SSE gateway, no streams")
		echo "| GET with the streams open / without (goal ≥ 0.9) | $r $(verdict "$r" 0.9) |"
		echo "| gateway VmRSS without / with the streams | $(mib "$SSE_RSS_IDLE") / $(mib "$SSE_RSS_STREAMS") |"
		echo "| per idle stream | $(( (SSE_RSS_STREAMS - SSE_RSS_IDLE) * 1024 / 1000 )) B |"
	fi
	if [ "$WATCH_ROWS" -eq 1 ]; then
		echo
		echo "| watches over RPC | value |"
		echo "| --- | ---: |"
		r=$(ratio "RPC Get, 32 in flight, $W_PARKED watches parked" "RPC Get, 32 in flight, no watches")
		echo "| RPC Get p99, 32 in flight: alone / $W_PARKED watches parked (goal: unchanged) | ${P99["RPC Get, 32 in flight, no watches"]:-n/a} µs / ${P99["RPC Get, 32 in flight, $W_PARKED watches parked"]:-n/a} µs (req/s ratio $r) |"
		if [ -n "${RSS_W1:-}" ]; then
			echo "| VmRSS before / with $W_PARKED parked | $(mib "$RSS_W0") / $(mib "$RSS_W1") |"
			echo "| per parked watch ((with − before) / $W_PARKED; goal ≤ 4096 B) | $(( (RSS_W1 - RSS_W0) * 1024 / W_PARKED )) B |"
		fi
		echo "| parked watches: answered while parked (should be 0), most waiting | $(kv "$W_PARKED_LINE" answers), $(kv "$W_PARKED_LINE" waiting_max) |"
		r=$(ratio "RPC Create, 32 in flight, $W_ACTIVE watchers of another group" "RPC Create, 32 in flight, no watchers")
		echo "| RPC Create with $W_ACTIVE watchers parked (another group) / without (≥ 0.8) | $r | $(verdict "$r" 0.8) |"
		r=$(ratio "RPC Create, 32 in flight, $W_ACTIVE watchers of every change" "RPC Create, 32 in flight, no watchers")
		echo "| RPC Create with $W_ACTIVE watchers of every change / without (≥ 0.8) | $r | $(verdict "$r" 0.8) |"
		echo "| those watchers: answers, events delivered | $(kv "$W_ACTIVE_LINE" answers), $(kv "$W_ACTIVE_LINE" events) |"
	fi
	if [ "$REPL_ROWS" -eq 1 ]; then
		echo
		echo "| replica | value |"
		echo "| --- | ---: |"
		echo "| bootstrap until it has the primary's revision (goal ≤ 10 s at 1M) | $REPL_BOOT_MS ms: $REPL_BOOT_HOW |"
		echo "| replica VmRSS after it | $(mib "${REPL_RSS:-0}") |"
		if [ -n "$REPL_LINE" ]; then
			echo "| creates on the primary (asked $REPL_RATE/s) | $(kv "$REPL_LINE" rate)/s, $(kv "$REPL_LINE" creates) in all, $(kv "$REPL_LINE" failed) failed |"
			echo "| lag: acknowledged by the primary → seen by a watcher of the replica, p50 / p99 / max (goal p99 ≤ 100 ms) | $(kv "$REPL_LINE" lag_p50_ms) / $(kv "$REPL_LINE" lag_p99_ms) / $(kv "$REPL_LINE" lag_max_ms) ms |"
			echo "| changes the replica never showed | $(kv "$REPL_LINE" missing) |"
		fi
	fi
	if [ "$SPREAD_ROWS" -eq 1 ]; then
		echo
		echo "| reads over replicas (GET by id, wrk -t2 -c32) | one backend | primary + 2 replicas |"
		echo "| --- | ---: | ---: |"
		a="REST GET, gateway over the primary alone" b="REST GET, gateway over the primary and 2 replicas"
		echo "| GET/s | ${RPS[$a]:-n/a} | ${RPS[$b]:-n/a} |"
		awk -v c1="$SP_CPU_ONE" -v c2="$SP_CPU_SPREAD" -v r1="${RPS[$a]:-0}" \
			-v r2="${RPS[$b]:-0}" -v d="$DURATION" -v t="$CLK_TCK" 'BEGIN {
			u1 = r1 > 0 ? c1 * 1e6 / t / (r1 * d) : 0
			u2 = r2 > 0 ? c2 * 1e6 / t / (r2 * d) : 0
			printf "| the primary'"'"'s CPU per read | %.1f µs | %.1f µs (%.2f x; goal about 0.33) |\n", u1, u2, (u1 > 0 ? u2 / u1 : 0) }'
		awk -v c1="$SP_CPU_ONE" -v c2="$SP_CPU_SPREAD" -v rp="$SP_REPS" \
			-v g1="$SP_GW_ONE" -v g2="$SP_GW_SPREAD" -v r1="${RPS[$a]:-0}" \
			-v r2="${RPS[$b]:-0}" -v d="$DURATION" -v t="$CLK_TCK" 'BEGIN {
			n1 = r1 * d * t / 1e6; n2 = r2 * d * t / 1e6
			if (n1 <= 0 || n2 <= 0) exit
			printf "| the two replicas'"'"' CPU per read | | %.1f µs |\n", rp / n2
			printf "| all backends'"'"' CPU per read | %.1f µs | %.1f µs (%.2f x) |\n", c1 / n1, (c2 + rp) / n2, ((c2 + rp) / n2) / (c1 / n1)
			printf "| the gateway'"'"'s CPU per read | %.1f µs | %.1f µs (%.2f x) |\n", g1 / n1, g2 / n2, (g2 / n2) / (g1 / n1) }'
		r=$(ratio "$b" "$a")
		echo "| total reads, spread / one backend (goal ≥ 1.0 on this machine) | | $r $(verdict "$r" 1.0) |"
	fi
	printf '%s' "$PERF_OUT"
}
REPORT=$(report)
echo "$REPORT"
if [ -n "$OUT" ]; then
	echo "$REPORT" >"$OUT"
	log "tables written to $OUT"
fi
