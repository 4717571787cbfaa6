#!/bin/sh
# Makes demo TLS files for deploy/compose.tls.yaml (or a test setup): a CA,
# a Redis server certificate for the names given (default: redis,
# localhost, 127.0.0.1) and a client certificate for invq, all signed by
# that CA. Not for production: use your own PKI there.
# usage: deploy/tls/make-certs.sh DIR [NAME...]
set -eu
dir=${1:?usage: make-certs.sh DIR [NAME...]}
shift
[ $# -gt 0 ] || set -- redis localhost 127.0.0.1
mkdir -p "$dir"
cd "$dir"
san=""
for n in "$@"; do
    case $n in
    *[!0-9.]*) san="$san${san:+,}DNS:$n" ;;
    *) san="$san${san:+,}IP:$n" ;;
    esac
done
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days 365 -subj /CN=invq-demo-ca
key redis.key
openssl req -new -key redis.key -out redis.csr -subj "/CN=$1"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > redis.ext
openssl x509 -req -in redis.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out redis.crt -days 365 \
    -extfile redis.ext 2>/dev/null
key client.key
openssl req -new -key client.key -out client.csr -subj /CN=invq
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 365 \
    -extfile client.ext 2>/dev/null
rm -f ./*.csr ./*.ext ca.srl
chmod 0644 ./*.crt ./*.key   # read by the containers' own users; demo files only
echo "make-certs: ca.crt, redis.crt/.key (for $san), client.crt/.key in $dir"
