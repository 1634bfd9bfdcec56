# This node trusts the registry ${DOMAIN}: its CA (if ours) in the system store, containerd's
# hosts.toml, RKE2's registries.yaml (rke2 only, from stdin: it holds the password), and names
# in a managed block at the top of /etc/hosts (goodrain.me -> the gateway VIP).
# Params: DOMAIN, MIRRORED (other names pulled from it, space separated), CERTS_D, HOSTS_TOML,
# HOSTS_LINES, CA_FILE, CA_PEM (empty: no CA of ours),
# RKE2_REGISTRIES (empty unless the cluster is RKE2).
set -euo pipefail
BEGIN="# BEGIN rainbond-ha registry"
END="# END rainbond-ha registry"

# Writes stdin to $1 with mode $2 when the content differs; says whether it changed.
put() {
    local tmp
    tmp="$(mktemp "$1.XXXXXX")"
    cat >"${tmp}"
    chmod "$2" "${tmp}"
    if cmp -s "${tmp}" "$1"; then
        rm -f "${tmp}"
        return 1
    fi
    mv -f "${tmp}" "$1"
}

if [ -n "${RKE2_REGISTRIES}" ]; then
    registries="$(cat)"
    [ -n "${registries}" ] || { echo "trust: registries.yaml expected on stdin" >&2; exit 1; }
fi

if [ -n "${CA_PEM}" ]; then
    printf '%s\n' "${CA_PEM}" | openssl x509 -noout 2>/dev/null \
        || { echo "trust: the registry CA is not a PEM certificate" >&2; exit 1; }
    mkdir -p "$(dirname "${CA_FILE}")"
    if printf '%s\n' "${CA_PEM}" | put "${CA_FILE}" 0644; then
        echo "trust: installed the registry CA as ${CA_FILE}"
    fi
    if command -v update-ca-certificates >/dev/null; then
        update-ca-certificates >/dev/null 2>&1
    else
        echo "trust: warning: no update-ca-certificates (package ca-certificates); only" \
            "containerd trusts the registry CA" >&2
    fi
fi

# The same hosts.toml for the registry's name and each name mirrored onto it; one that an
# earlier run wrote for a name no longer served goes.
for name in ${DOMAIN} ${MIRRORED}; do
    mkdir -p "${CERTS_D}/${name}"
    if printf '%s' "${HOSTS_TOML}" | put "${CERTS_D}/${name}/hosts.toml" 0644; then
        echo "trust: wrote ${CERTS_D}/${name}/hosts.toml"
    fi
done
marker="$(head -n 1 <<<"${HOSTS_TOML}")"
for file in $(grep -lxF "${marker}" "${CERTS_D}"/*/hosts.toml 2>/dev/null || true); do
    name="$(basename "$(dirname "${file}")")"
    if ! grep -qxF "${name}" <(printf '%s\n' ${DOMAIN} ${MIRRORED}); then
        rm -f "${file}"
        rmdir "$(dirname "${file}")" 2>/dev/null || true
        echo "trust: removed ${file} (${name} is no longer served)"
    fi
done
if [ -f /etc/containerd/config.toml ] && ! grep -q "config_path.*${CERTS_D}" /etc/containerd/config.toml; then
    echo "trust: warning: /etc/containerd/config.toml does not set config_path = \"${CERTS_D}\";" \
        "containerd ignores hosts.toml until it does" >&2
fi

if [ -n "${RKE2_REGISTRIES}" ]; then
    mkdir -p "$(dirname "${RKE2_REGISTRIES}")"
    if printf '%s\n' "${registries}" | put "${RKE2_REGISTRIES}" 0600; then
        echo "trust: wrote ${RKE2_REGISTRIES}"
        if systemctl is-active --quiet rke2-server rke2-agent; then
            echo "trust: RKE2 reads registries.yaml at start: restart rke2-server/rke2-agent to apply"
        fi
    fi
fi

# Our block goes first: the first match wins, so Rainbond's hosts-job line (one gateway node's
# address, appended later) cannot override it.
{
    printf '%s\n%s%s\n' "${BEGIN}" "${HOSTS_LINES}" "${END}"
    awk -v b="${BEGIN}" -v e="${END}" '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' /etc/hosts
} >/etc/hosts.rainbond-ha
if cmp -s /etc/hosts.rainbond-ha /etc/hosts; then
    rm -f /etc/hosts.rainbond-ha
else
    # Rewritten in place: /etc/hosts may be a bind mount that a rename cannot replace.
    cat /etc/hosts.rainbond-ha >/etc/hosts
    rm -f /etc/hosts.rainbond-ha
    echo "trust: /etc/hosts maps $(printf '%s' "${HOSTS_LINES}" | tr '\n' ';')"
fi
echo "trust: ${DOMAIN} trusted"
