# Removes the registry's CA (its key too) and server certificate.
# Params: TLS_DIR, SANS.
set -euo pipefail
rm -rf "${TLS_DIR}"
for dir in "$(dirname "${TLS_DIR}")" "$(dirname "$(dirname "${TLS_DIR}")")"; do
    rmdir --ignore-fail-on-non-empty "${dir}" 2>/dev/null || true
done
echo "registry tls: removed ${TLS_DIR}"
