#!/usr/bin/env bash
# The REST API reference, from gateway/openapi.json:
#   docs/api.md              Markdown, in the repository (tools/openapi_md.py;
#                            ctest's lint.docs_api_md checks it is current)
#   $BUILD_DIR/docs/api.html one static HTML page, built by Redocly
#                            (npm @redocly/cli build-docs), in the build tree
#
# Environment: BUILD_DIR (build); REDOCLY_VERSION (2.77.0); NPM_PREFIX
# (BUILD_DIR/npm: where @redocly/cli is installed from the npm registry
# the first time, and kept).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
REDOCLY_VERSION=${REDOCLY_VERSION:-2.77.0}
NPM_PREFIX=${NPM_PREFIX:-$BUILD_DIR/npm}

python3 tools/openapi_md.py
echo "docs.sh: wrote docs/api.md"

if ! command -v npm >/dev/null 2>&1; then
	echo "docs.sh: npm is missing (apt-get install npm), so no HTML page" >&2
	exit 1
fi
redocly=$NPM_PREFIX/node_modules/.bin/redocly
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
if [ ! -x "$redocly" ] ||
	[ "$("$redocly" --version 2>/dev/null | tail -n 1)" != "$REDOCLY_VERSION" ]; then
	mkdir -p "$NPM_PREFIX"
	npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --silent \
		"@redocly/cli@$REDOCLY_VERSION"
fi
mkdir -p "$BUILD_DIR/docs"
"$redocly" build-docs gateway/openapi.json -o "$BUILD_DIR/docs/api.html"
echo "docs.sh: wrote $BUILD_DIR/docs/api.html"
