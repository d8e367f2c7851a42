#!/usr/bin/env bash
# Installs what is missing, builds, and runs flow-service + flow-gateway in
# the foreground: REST on http://127.0.0.1:8080, RPC on tcp://127.0.0.1:5555,
# data in ./data. Prints a banner (the URLs, where flowctl is, how to stop)
# once both answer; Ctrl-C stops both cleanly.
#
# Environment:
#   PORT (8080), BIND (127.0.0.1)   where the gateway serves REST
#   BACKEND (tcp://127.0.0.1:5555)  where the backend serves RPC
#   DATA_DIR (./data), FSYNC (everysec)
#   BACKEND_FLAGS                   more flow-service flags, split on
#                                   blanks (no quoting), e.g.
#                                   BACKEND_FLAGS="--access-log"
#   BUILD_DIR (build)               the build tree
#   NO_BUILD (unset)                1: run what BUILD_DIR holds, install and
#                                   build nothing
# Arguments go to flow-gateway, e.g. ./tools/run.sh --access-log.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
PORT=${PORT:-8080}
BIND=${BIND:-127.0.0.1}
BACKEND=${BACKEND:-tcp://127.0.0.1:5555}
DATA_DIR=${DATA_DIR:-./data}
read -r -a backend_flags <<<"${BACKEND_FLAGS:-}"

if [ "${NO_BUILD:-}" != 1 ]; then
	. tools/deps.sh
	flowsvc_install_deps
	cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
		-DFLOWSVC_TESTS=OFF >/dev/null
	cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
fi
bin=$(cd "$BUILD_DIR" && pwd)
svc=$bin/service/flow-service
gw=$bin/gateway/flow-gateway
ctl=$bin/tools/flowctl
for b in "$svc" "$gw" "$ctl"; do
	if [ ! -x "$b" ]; then
		echo "run.sh: $b is missing (NO_BUILD=1 runs what" \
			"BUILD_DIR=$BUILD_DIR holds)" >&2
		exit 1
	fi
done

# The host to give clients: a wildcard bind is reached on loopback.
case $BIND in
0.0.0.0) host=127.0.0.1 ;;
::) host='[::1]' ;;
*:*) host="[$BIND]" ;;
*) host=$BIND ;;
esac

# Is something already listening at HOST:PORT? (A connection succeeds.)
listening() {
	timeout 2 bash -c "exec 3<>/dev/tcp/${1//[\[\]]/}/$2" 2>/dev/null
}
if listening "$host" "$PORT"; then
	echo "run.sh: $host:$PORT is taken (something already listens" \
		"there): choose another port, e.g." \
		"PORT=$((PORT + 1)) ./tools/run.sh" >&2
	exit 1
fi
# What to suggest when the backend's address is taken.
other_backend=BACKEND=ipc:///tmp/flowsvc.sock
if [[ $BACKEND =~ ^tcp://(.*):([0-9]+)$ ]]; then
	other_backend=BACKEND=tcp://${BASH_REMATCH[1]}:$((BASH_REMATCH[2] + 1))
	if listening "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"; then
		echo "run.sh: $BACKEND is taken (something already listens" \
			"there): choose another address, e.g." \
			"$other_backend ./tools/run.sh" >&2
		exit 1
	fi
fi

mkdir -p "$DATA_DIR"
svc_pid=""
gw_pid=""
stop() {
	trap - INT TERM
	if [ -n "$gw_pid" ]; then
		kill -TERM "$gw_pid" 2>/dev/null || true
		wait "$gw_pid" 2>/dev/null || true
	fi
	if [ -n "$svc_pid" ]; then
		kill -TERM "$svc_pid" 2>/dev/null || true
		wait "$svc_pid" 2>/dev/null || true
	fi
}
trap 'stop; exit 0' INT TERM

"$svc" --listen "$BACKEND" --data-dir "$DATA_DIR" \
	--fsync "${FSYNC:-everysec}" ${backend_flags[@]+"${backend_flags[@]}"} &
svc_pid=$!
"$gw" --bind "$BIND" --port "$PORT" --backend "$BACKEND" "$@" &
gw_pid=$!

# A program that exits before both answer did not start: say which, and
# what to change (status 2 is a mistake in its flags).
failed() {
	local name=$1 status=$2 hint=$3 flags=$4
	if [ "$status" = 2 ]; then
		echo "run.sh: $name refused its flags (see above and" \
			"$name --help; $flags holds the extra ones)" >&2
	else
		echo "run.sh: $name exited with status $status before it" \
			"was ready (its reason is above). If its address is" \
			"taken, choose another: $hint ./tools/run.sh" >&2
	fi
	stop
	exit 1
}
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
	if ! kill -0 "$svc_pid" 2>/dev/null; then
		set +e
		wait "$svc_pid"
		st=$?
		set -e
		svc_pid=""
		failed flow-service "$st" "$other_backend" BACKEND_FLAGS
	fi
	if ! kill -0 "$gw_pid" 2>/dev/null; then
		set +e
		wait "$gw_pid"
		st=$?
		set -e
		gw_pid=""
		failed flow-gateway "$st" "PORT=$((PORT + 1))" \
			"the command line"
	fi
	if "$ctl" --backend "$BACKEND" --timeout 1000 health >/dev/null 2>&1 &&
		curl -fs -o /dev/null "http://$host:$PORT/readyz"; then
		ready=1
		break
	fi
	sleep 0.1
done
if [ -z "${ready:-}" ]; then
	echo "run.sh: flow-service and flow-gateway did not both answer" \
		"within 60 s" >&2
	stop
	exit 1
fi

version=$("$svc" --version)
cat <<EOF

  flowsvc ${version##* } is running; data in $DATA_DIR
  REST API  http://$host:$PORT/api/flows/
  OpenAPI   http://$host:$PORT/api/openapi.json
  RPC       $BACKEND
  flowctl   $ctl
  try       $ctl --backend $BACKEND health
            curl -s http://$host:$PORT/api/flows/
  stop      Ctrl-C (stops both; the backend writes a snapshot first)

EOF

# If either process exits on its own, stop the other and report it.
set +e
wait -n "$svc_pid" "$gw_pid"
rc=$?
stop
exit "$rc"
