#!/usr/bin/env bash
# Installs what is missing (and, when npm is there, the OpenAPI linter
# into the build tree), checks every C file against the committed
# style (.clang-format, clang-format 14), builds with AddressSanitizer and
# UBSan (-Werror), runs
# each libFuzzer target for FUZZ_SECONDS (default 20; 0 skips them) with
# tools/fuzz.sh, then every test (CUnit programs under ctest), so that
# ctest's summary is the last thing printed. Extra arguments go to ctest,
# e.g. FUZZ_SECONDS=0 ./tools/test.sh -R unit.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
FLOWSVC_EXTRA_PACKAGES="${FLOWSVC_EXTRA_PACKAGES:-} $FLOWSVC_TEST_PACKAGES"
flowsvc_install_deps

# The style is mechanical: clang-format 14 (Debian bookworm's; other
# versions format some constructs differently) must find nothing to change.
# Fix with: clang-format-14 -i FILE...
files=$(git ls-files '*.c' '*.h' 2>/dev/null ||
	find service gateway proto tools tests -name '*.[ch]')
# shellcheck disable=SC2086
if ! clang-format-14 --dry-run --Werror $files; then
	echo "test.sh: C files off the committed style (.clang-format):" \
		"run clang-format-14 -i on them" >&2
	exit 1
fi

BUILD_DIR=${BUILD_DIR:-build-test}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DFLOWSVC_SANITIZE=ON \
	-DFLOWSVC_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"

# ctest's lint.openapi_redocly runs `redocly lint` (npm @redocly/cli, a
# pinned version) over gateway/openapi.json. It is installed into the
# build tree when npm is there; without npm, without network, or with
# FLOWSVC_NPM=0 that test reports itself skipped and the rest runs as
# ever.
REDOCLY_VERSION=2.77.0
if [ "${FLOWSVC_NPM:-1}" != 0 ] && command -v npm >/dev/null 2>&1 &&
	[ ! -x "$BUILD_DIR/npm/node_modules/.bin/redocly" ]; then
	timeout 300 npm install --prefix "$BUILD_DIR/npm" --no-audit \
		--no-fund --loglevel=error "@redocly/cli@$REDOCLY_VERSION" ||
		echo "test.sh: could not install @redocly/cli with npm:" \
			"lint.openapi_redocly will be skipped" >&2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
	./tools/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 "$@"
