# A CA made on this node and a server certificate it signs for ${SANS}. The CA key never leaves
# the node; the CA certificate (public) is this step's output, for every node to trust.
# Params: TLS_DIR, SANS (openssl subjectAltName list).
set -euo pipefail
(umask 022 && mkdir -p "${TLS_DIR}")
cd "${TLS_DIR}"
umask 077  # keys

if [ ! -s ca.key ] || [ ! -s ca.crt ]; then
    echo "registry tls: creating a CA in ${TLS_DIR}" >&2
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout ca.key.new -out ca.crt.new -days 3650 -subj "/CN=rainbond-ha registry CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    mv ca.key.new ca.key
    chmod 0644 ca.crt.new
    mv ca.crt.new ca.crt
    rm -f server.crt  # signed by a CA that is gone
fi

# Reissue the server certificate when the names change or it no longer verifies with this CA.
wanted="$(printf '%s' "${SANS}" | tr ',' '\n' | sed 's/^IP:/IP Address:/' | sort | paste -sd,)"
current=""
if [ -s server.crt ] && [ -s server.key ] \
    && openssl verify -CAfile ca.crt server.crt >/dev/null 2>&1; then
    current="$(openssl x509 -in server.crt -noout -ext subjectAltName 2>/dev/null \
        | tail -n +2 | tr -d ' ' | tr ',' '\n' | sed 's/^IPAddress:/IP Address:/' | sort | paste -sd,)"
fi
if [ "${current}" != "${wanted}" ]; then
    echo "registry tls: issuing the server certificate for ${SANS}" >&2
    [ -s server.key ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 \
        -out server.key
    openssl req -new -key server.key -subj "/CN=rainbond-ha registry" -out server.csr
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
        "${SANS}" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile server.ext -out server.crt.new 2>/dev/null
    rm -f server.csr server.ext
    chmod 0644 server.crt.new
    mv server.crt.new server.crt
else
    echo "registry tls: CA and server certificate in place" >&2
fi
cat ca.crt
