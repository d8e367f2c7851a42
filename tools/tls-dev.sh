#!/usr/bin/env bash
# tools/tls-dev.sh - certificates for trying out TLS on one machine: a CA,
# a server certificate and a client certificate, made with openssl.
#
# Usage: tools/tls-dev.sh DIR [NAME...]
#
# Writes into DIR (created if missing), keys readable by the owner only:
#   ca.pem, ca.key          the CA (kept when DIR already has one, so that
#                           running this again issues new server and client
#                           certificates from the same CA: a rotation)
#   server.pem, server.key  for flow-service --tls-cert/--tls-key and
#                           flow-gateway --tls-cert/--tls-key; names
#                           localhost and 127.0.0.1, and each NAME given
#                           (a DNS name or an IP address); usable as a
#                           client certificate too (a replica presents it
#                           to its primary)
#   client.pem, client.key  for --backend-cert/--backend-key (gateway,
#                           flowctl, flow-bench, the C client), subject
#                           CN=flowsvc-client
# Every program's --tls-ca/--backend-ca is ca.pem. Elliptic-curve keys
# (P-256), valid for 365 days (the CA for 10 years). For development only:
# the CA key sits beside the certificates, unprotected.
#
# Then, for example:
#   flow-service --listen tls+tcp://127.0.0.1:5555 --tls-cert DIR/server.pem \
#       --tls-key DIR/server.key --tls-ca DIR/ca.pem
#   flowctl --backend tls+tcp://localhost:5555 --backend-cert DIR/client.pem \
#       --backend-key DIR/client.key --backend-ca DIR/ca.pem health
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	usage
	[ $# -ge 1 ] && exit 0
	exit 2
fi
DIR=$1
shift
command -v openssl >/dev/null 2>&1 || {
	echo "tls-dev.sh: needs openssl (apt-get install openssl)" >&2
	exit 1
}
mkdir -p "$DIR"
umask 077
TMP=$(mktemp -d "$DIR/.tls-dev.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The server's subjectAltName: localhost, 127.0.0.1 and the names given.
san="DNS:localhost,IP:127.0.0.1"
for n in "$@"; do
	case $n in
	*[!0-9.]*) [[ $n == *:* ]] && san="$san,IP:$n" || san="$san,DNS:$n" ;;
	*) san="$san,IP:$n" ;;
	esac
done

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ -f "$DIR/ca.pem" ] && [ -f "$DIR/ca.key" ]; then
	echo "tls-dev.sh: keeping the CA in $DIR/ca.pem" >&2
else
	newkey "$TMP/ca.key"
	openssl req -x509 -new -key "$TMP/ca.key" -subj "/CN=flowsvc development CA" \
		-days 3650 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$TMP/ca.pem"
	mv "$TMP/ca.key" "$DIR/ca.key"
	mv "$TMP/ca.pem" "$DIR/ca.pem"
fi

# issue NAME SUBJECT EXTENSIONS: NAME.pem and NAME.key, signed by the CA
issue() {
	local name=$1 subject=$2 ext=$3
	newkey "$TMP/$name.key"
	openssl req -new -key "$TMP/$name.key" -subj "$subject" -out "$TMP/$name.csr"
	printf '%b\n' "$ext" >"$TMP/$name.ext"
	openssl x509 -req -in "$TMP/$name.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
		-set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 \
		-extfile "$TMP/$name.ext" -out "$TMP/$name.pem" 2>/dev/null
	mv "$TMP/$name.key" "$DIR/$name.key"
	mv "$TMP/$name.pem" "$DIR/$name.pem"
}

issue server "/CN=localhost" \
	"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=$san"
issue client "/CN=flowsvc-client" \
	"basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth"
chmod 644 "$DIR/ca.pem" "$DIR/server.pem" "$DIR/client.pem"

for f in server client; do
	printf '%s.pem: %s, serial %s, until %s\n' "$f" \
		"$(openssl x509 -in "$DIR/$f.pem" -noout -subject | sed 's/^subject=//')" \
		"$(openssl x509 -in "$DIR/$f.pem" -noout -serial | sed 's/^serial=//')" \
		"$(openssl x509 -in "$DIR/$f.pem" -noout -enddate | sed 's/^notAfter=//')"
done
echo "server names: $san"
