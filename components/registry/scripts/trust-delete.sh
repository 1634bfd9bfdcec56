# Undoes trust.sh: the CA, hosts.toml, registries.yaml and the /etc/hosts block.
# Params: as trust.sh.
set -euo pipefail
BEGIN="# BEGIN rainbond-ha registry"
END="# END rainbond-ha registry"
if [ -n "${CA_PEM}" ] && [ -e "${CA_FILE}" ]; then
    rm -f "${CA_FILE}"
    if command -v update-ca-certificates >/dev/null; then
        update-ca-certificates --fresh >/dev/null 2>&1
    fi
fi
for name in ${DOMAIN} ${MIRRORED}; do
    rm -f "${CERTS_D}/${name}/hosts.toml"
    rmdir --ignore-fail-on-non-empty "${CERTS_D}/${name}" 2>/dev/null || true
done
for dir in "${CERTS_D}" "$(dirname "${CERTS_D}")"; do
    rmdir --ignore-fail-on-non-empty "${dir}" 2>/dev/null || true
done
if [ -n "${RKE2_REGISTRIES}" ]; then
    rm -f "${RKE2_REGISTRIES}"
    for dir in "$(dirname "${RKE2_REGISTRIES}")" "$(dirname "$(dirname "${RKE2_REGISTRIES}")")"; do
        rmdir --ignore-fail-on-non-empty "${dir}" 2>/dev/null || true
    done
fi
if grep -qxF "${BEGIN}" /etc/hosts; then
    awk -v b="${BEGIN}" -v e="${END}" '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' \
        /etc/hosts >/etc/hosts.rainbond-ha
    cat /etc/hosts.rainbond-ha >/etc/hosts
    rm -f /etc/hosts.rainbond-ha
fi
echo "trust: removed the trust of ${DOMAIN}"
