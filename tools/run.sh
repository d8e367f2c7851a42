#!/usr/bin/env bash
# Installs what is missing, builds, and runs flow-service + flow-gateway in
# the foreground: REST on http://127.0.0.1:8080, RPC on tcp://127.0.0.1:5555,
# data in ./data. Ctrl-C stops both cleanly.
#
# Environment: PORT (8080), BIND (127.0.0.1), BACKEND (tcp://127.0.0.1:5555),
# DATA_DIR (./data), FSYNC (everysec), BUILD_DIR (build); extra arguments go
# to flow-gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
flowsvc_install_deps

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DFLOWSVC_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null

BACKEND=${BACKEND:-tcp://127.0.0.1:5555}
DATA_DIR=${DATA_DIR:-./data}
mkdir -p "$DATA_DIR"

"$BUILD_DIR"/service/flow-service --listen "$BACKEND" --data-dir "$DATA_DIR" \
	--fsync "${FSYNC:-everysec}" &
svc_pid=$!
"$BUILD_DIR"/gateway/flow-gateway --bind "${BIND:-127.0.0.1}" \
	--port "${PORT:-8080}" --backend "$BACKEND" "$@" &
gw_pid=$!

stop() {
	trap - INT TERM
	kill -TERM "$gw_pid" 2>/dev/null || true
	wait "$gw_pid" 2>/dev/null || true
	kill -TERM "$svc_pid" 2>/dev/null || true
	wait "$svc_pid" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM

# If either process exits on its own, stop the other and report it.
set +e
wait -n "$svc_pid" "$gw_pid"
rc=$?
stop
exit "$rc"
