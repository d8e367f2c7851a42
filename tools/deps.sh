# Sourced by run.sh, test.sh and bench.sh: installs the Debian packages the
# build and the tests need, when any is missing. Needs root (or sudo) only
# when something is actually missing.
# curl and jq: the README's examples (and run.sh's readiness check) use them.
# libgnutls28-dev: libmicrohttpd's TLS library, which the gateway also
# calls itself for its HTTPS certificate. libcurl4-openssl-dev: flow-service
# talks to etcd's v3 JSON API over HTTP (--coordinator).
FLOWSVC_PACKAGES="build-essential cmake pkg-config protobuf-c-compiler \
libprotobuf-c-dev libnng-dev libmicrohttpd-dev libgnutls28-dev \
libjansson-dev uuid-dev libcunit1-dev libcurl4-openssl-dev curl jq"
# tools/test.sh: what the tests use besides the build (the Python client
# example: Debian's python3 with python3-protobuf, and protoc; the style
# check: clang-format 14; test_tls's throwaway CAs and certificates, and
# its look at the certificate served: openssl; the failover tests' etcd
# members: etcd-server, etcd 3.4).
FLOWSVC_TEST_PACKAGES="python3 python3-protobuf protobuf-compiler clang-format-14 \
openssl etcd-server"
# tools/fuzz.sh (and so test.sh): clang and its libFuzzer runtime.
FLOWSVC_FUZZ_PACKAGES="clang libclang-rt-14-dev"

flowsvc_install_deps() {
	local missing=() p
	for p in $FLOWSVC_PACKAGES ${FLOWSVC_EXTRA_PACKAGES:-}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing: ${missing[*]}" >&2
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo="sudo"
		else
			echo "missing packages (${missing[*]}) and not root:" \
				"install them, then run again" >&2
			return 1
		fi
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		$sudo env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
