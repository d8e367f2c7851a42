#!/usr/bin/env bash
# Automatic failover figures (CONTRACT §9, docs/failover.md), on this
# machine, with the release build:
#   1. kill -9 of the primary (--lease-ttl 3): the time from the kill until
#      a create sent after it is acknowledged (flowctl creates every 20 ms
#      through the replicas, which forward to whoever is the primary), for
#      --rounds kills in a row (each time the primary of the moment; the
#      killed one is restarted and rejoins before the next round);
#   2. RPC create throughput (flow-bench create, 32 in flight, --duration
#      seconds) on the primary of a 3-backend cluster with --sync-replicas 0
#      and with --sync-replicas 1, and their ratio (goal >= 0.5).
# etcd (3 members) and the backends run on loopback on free ports, in a
# scratch directory removed at the end.
#
# Usage: tools/failover.sh [--duration S] [--rounds N] [--fsync MODE]
# Env: OBJ (build dir, default build-rel; built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=10
ROUNDS=3
FSYNC=everysec
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--fsync) FSYNC=$2; shift 2 ;;
	*) echo "usage: $0 [--duration S] [--rounds N] [--fsync MODE]" >&2; exit 2 ;;
	esac
done
OBJ=${OBJ:-build-rel}
if [ ! -x "$OBJ/service/flow-service" ] || [ ! -x "$OBJ/tools/bench/flow-bench" ]; then
	cmake -S . -B "$OBJ" -DCMAKE_BUILD_TYPE=Release -DFLOWSVC_TESTS=OFF >/dev/null
	cmake --build "$OBJ" -j2 >/dev/null
fi
SVC=$OBJ/service/flow-service
CTL=$OBJ/tools/flowctl
FB=$OBJ/tools/bench/flow-bench
command -v etcd >/dev/null || { echo "etcd is not installed (tools/deps.sh)" >&2; exit 1; }

S=$(mktemp -d /tmp/flowsvc-failover.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$S"
}
trap cleanup EXIT

log() { echo "[$(date +%T)] $*" >&2; }
now_ms() { date +%s%3N; }
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- etcd: three members ----------------------------------------------------
CP=() PP=() CLUSTER="" SPEC="etcd://"
for i in 0 1 2; do
	CP[$i]=$(free_port); PP[$i]=$(free_port)
	CLUSTER+="${CLUSTER:+,}m$i=http://127.0.0.1:${PP[$i]}"
	[ "$i" -gt 0 ] && SPEC+=","
	SPEC+="127.0.0.1:${CP[$i]}"
done
for i in 0 1 2; do
	etcd --name "m$i" --data-dir "$S/etcd$i" \
		--listen-client-urls "http://127.0.0.1:${CP[$i]}" \
		--advertise-client-urls "http://127.0.0.1:${CP[$i]}" \
		--listen-peer-urls "http://127.0.0.1:${PP[$i]}" \
		--initial-advertise-peer-urls "http://127.0.0.1:${PP[$i]}" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new \
		--heartbeat-interval 50 --election-timeout 500 \
		--logger zap --log-level error >"$S/etcd$i.log" 2>&1 &
	PIDS+=($!)
done
for i in 0 1 2; do
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:${CP[$i]}/health" >/dev/null && break
		sleep 0.1
	done
done
log "etcd: $SPEC"

# ---- backends -----------------------------------------------------------------
declare -a BURL BPID
start_backend() { # i cluster sync
	local i=$1
	"$SVC" --listen "${BURL[$i]}" --data-dir "$S/$2-b$i" --fsync "$FSYNC" \
		--coordinator "$SPEC" --cluster "$2" --advertise "${BURL[$i]}" \
		--lease-ttl 3 --sync-replicas "$3" >>"$S/$2-b$i.log" 2>&1 &
	BPID[$i]=$!
	PIDS+=($!)
}
health_field() { # url field
	"$CTL" --backend "$1" health 2>/dev/null | jq -r ".$2 // empty" 2>/dev/null || true
}
leader() { # prints the index of the primary, waiting up to 20 s
	for _ in $(seq 400); do
		for i in 0 1 2; do
			[ -n "${BPID[$i]:-}" ] || continue
			[ "$(health_field "${BURL[$i]}" coordinator)" = leader ] &&
				[ "$(health_field "${BURL[$i]}" accepts_changes)" = true ] &&
				{ echo "$i"; return 0; }
		done
		sleep 0.05
	done
	return 1
}
cluster_up() { # name sync
	for i in 0 1 2; do
		BURL[$i]="tcp://127.0.0.1:$(free_port)"
		start_backend "$i" "$1" "$2"
	done
	leader >/dev/null
}
cluster_down() {
	for i in 0 1 2; do
		[ -n "${BPID[$i]:-}" ] && kill "${BPID[$i]}" 2>/dev/null || true
		[ -n "${BPID[$i]:-}" ] && wait "${BPID[$i]}" 2>/dev/null || true
		BPID[$i]=""
	done
}

# ---- 1. kill -9 of the primary ---------------------------------------------
cluster_up fo 0
# A writer: a create every 20 ms through backend (round-robin), a line
# "SENT_MS OK|FAIL" per create.
writer() {
	local k=0 i
	while [ ! -e "$S/stop" ]; do
		i=$((k % 3))
		local t; t=$(now_ms)
		if "$CTL" --backend "${BURL[$i]}" create "w_${k}_$t" >/dev/null 2>&1; then
			echo "$t OK"
		else
			echo "$t FAIL"
		fi
		k=$((k + 1))
		sleep 0.02
	done
}
writer >"$S/writes" &
WPID=$!
sleep 2
RES=()
for r in $(seq "$ROUNDS"); do
	l=$(leader)
	t=$(now_ms)
	kill -9 "${BPID[$l]}"; wait "${BPID[$l]}" 2>/dev/null || true
	BPID[$l]=""
	ok=""
	for _ in $(seq 600); do
		ok=$(awk -v t="$t" '$1 > t && $2 == "OK" { print $1; exit }' "$S/writes")
		[ -n "$ok" ] && break
		sleep 0.05
	done
	n=$(leader)
	res=$(( ${ok:-$t} - t ))
	[ -z "$ok" ] && res="none within 30 s"
	log "round $r: killed backend $l, backend $n took over; a create sent $res ms after the kill was acknowledged"
	RES+=("$res")
	start_backend "$l" fo 0
	sleep 3 # rejoins (bootstraps when it held changes the new primary had not)
done
touch "$S/stop"; wait "$WPID" 2>/dev/null || true
cluster_down

# ---- 2. create throughput, --sync-replicas 0 and 1 --------------------------
rps_of() { sed -n 's/.*rps=\([0-9.]*\).*/\1/p'; }
cluster_up tp0 0
l=$(leader)
A=$("$FB" create --backend "${BURL[$l]}" --inflight 32 --duration "$DURATION" --quiet --prefix "a$(now_ms)_" | rps_of)
cluster_down
cluster_up tp1 1
l=$(leader)
B=$("$FB" create --backend "${BURL[$l]}" --inflight 32 --duration "$DURATION" --quiet --prefix "b$(now_ms)_" | rps_of)
cluster_down

echo
echo "| what | figure |"
echo "| --- | --- |"
echo "| kill -9 of the primary, --lease-ttl 3: a create sent after the kill acknowledged after (ms, $ROUNDS rounds) | ${RES[*]} |"
echo "| RPC create, 32 in flight, 3 backends, --sync-replicas 0 (creates/s) | $A |"
echo "| RPC create, 32 in flight, 3 backends, --sync-replicas 1 (creates/s) | $B |"
echo "| ratio sync 1 / sync 0 (goal >= 0.5) | $(awk -v a="$A" -v b="$B" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }') |"
