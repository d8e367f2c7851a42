#!/usr/bin/env bash
# Installs what is missing, builds with AddressSanitizer and UBSan, runs
# each libFuzzer target for FUZZ_SECONDS (default 20; 0 skips them) with
# tools/fuzz.sh, then every test (CUnit programs under ctest), so that
# ctest's summary is the last thing printed. Extra arguments go to ctest,
# e.g. FUZZ_SECONDS=0 ./tools/test.sh -R unit.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
FLOWSVC_EXTRA_PACKAGES="${FLOWSVC_EXTRA_PACKAGES:-} $FLOWSVC_TEST_PACKAGES"
flowsvc_install_deps

BUILD_DIR=${BUILD_DIR:-build-test}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DFLOWSVC_SANITIZE=ON \
	-DFLOWSVC_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
	./tools/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 "$@"
