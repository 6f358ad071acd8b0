#!/bin/sh
# Regenerates the test certificates: a CA and a server certificate it signs for
# localhost, 127.0.0.1 and ::1, valid for 100 years, with the extensions that
# Python 3.13's strict verification asks for. Test use only.
set -e
cd "$(dirname "$0")"
cat > ca.ext <<'EXT'
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
EXT
cat > server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier=keyid
subjectKeyIdentifier=hash
EXT
openssl req -newkey rsa:2048 -nodes -subj "/CN=ferroloop test CA" -keyout ca.key -out ca.csr 2>/dev/null
openssl x509 -req -in ca.csr -signkey ca.key -days 36500 -extfile ca.ext -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 \
  -extfile server.ext -out server.pem 2>/dev/null
rm -f ca.csr ca.ext ca.key ca.srl server.csr server.ext
