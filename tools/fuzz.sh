#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan) in
# their own build directory and runs each for SECONDS (default 30), starting
# from the seed corpus in tests/fuzz/corpus/<target>/. Fails on any crash,
# leak, sanitizer report or timeout; the input that caused it is kept in the
# scratch directory (printed) and reproduces with `<binary> <file>`.
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
FLOWSVC_EXTRA_PACKAGES="${FLOWSVC_EXTRA_PACKAGES:-} $FLOWSVC_FUZZ_PACKAGES"
flowsvc_install_deps

secs=${1:-30}
shift || true
case $secs in
'' | *[!0-9]*) echo "usage: tools/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
	targets=(fuzz_gw_request fuzz_svc_dispatch fuzz_persist_load)

BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang cmake -S tests/fuzz -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug \
	>/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/flowsvc-fuzz.XXXXXX")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in "${targets[@]}"; do
	bin=$BUILD_DIR/$t
	seeds=tests/fuzz/corpus/$t
	work=$scratch/$t/corpus
	mkdir -p "$work" "$scratch/$t/tmp"
	# New inputs go to the scratch corpus; the committed seeds stay put.
	if TMPDIR=$scratch/$t/tmp "$bin" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -artifact_prefix="$scratch/$t/" \
		"$work" "$seeds" >"$scratch/$t/log" 2>&1; then
		echo "fuzz: $t: ok, $(grep -o 'cov: [0-9]*' "$scratch/$t/log" |
			tail -1), $(grep -c . <(ls "$work")) new inputs, ${secs}s"
	else
		echo "fuzz: $t: FAILED; log and input in $scratch/$t/" >&2
		tail -60 "$scratch/$t/log" >&2
		failed=1
	fi
done
if [ $failed -eq 0 ]; then
	rm -rf "$scratch"
else
	exit 1
fi
