# Debian's docker-registry (Distribution 2.8) on ${PORT}: TLS, htpasswd auth, our config.yml.
# Params: PORT, DOMAIN, USERNAME, CONFIG_DIR, TLS_DIR, STATE_DIR; CA_SHA256 ties the step to the
# certificate it serves, so a new CA re-runs it. Stdin: the password, the htpasswd line, then
# config.yml. Nothing secret is printed.
set -euo pipefail
IFS= read -r PASSWORD
IFS= read -r HTPASSWD
CONFIG="$(cat)"
[ -n "${PASSWORD}" ] && [ -n "${HTPASSWD}" ] && [ -n "${CONFIG}" ] || {
    echo "registry: stdin must hold the password, the htpasswd line and config.yml" >&2
    exit 1
}
UNIT=docker-registry.service

mkdir -p "${STATE_DIR}"
chmod 0700 "${STATE_DIR}"
if dpkg-query -W -f='${Status}' docker-registry 2>/dev/null | grep 'ok installed' >/dev/null; then
    if ! packages_brought registry docker-registry && [ ! -e "${STATE_DIR}/config.yml.orig" ]; then
        echo "registry: docker-registry was already installed; keeping its config.yml to restore"
        cp -p "${CONFIG_DIR}/config.yml" "${STATE_DIR}/config.yml.orig"
        systemctl is-enabled "${UNIT}" >"${STATE_DIR}/enabled.orig" 2>/dev/null || true
    fi
else
    # The package starts its service with its own configuration: keep it down until ours is in.
    systemctl mask --runtime "${UNIT}" >/dev/null
    packages_install registry docker-registry
fi

NEW="$(mktemp -d "${CONFIG_DIR}/.new.XXXXXX")"
trap 'rm -rf "${NEW}"' EXIT
printf '%s\n' "${CONFIG}" >"${NEW}/config.yml"
printf '%s\n' "${HTPASSWD}" >"${NEW}/htpasswd"
chgrp docker-registry "${NEW}/config.yml" "${NEW}/htpasswd" "${TLS_DIR}/server.key"
chmod 0640 "${NEW}/config.yml" "${NEW}/htpasswd" "${TLS_DIR}/server.key"
chmod 0755 "${NEW}"

# The registry has no check mode: start the new configuration on a spare loopback port. A bad
# file makes it exit at once; still running after a few seconds means it loaded (TLS included).
echo "registry: checking the new configuration with docker-registry"
rc=0
REGISTRY_HTTP_ADDR=127.0.0.1:0 REGISTRY_AUTH_HTPASSWD_PATH="${NEW}/htpasswd" \
    timeout 4 setpriv --reuid docker-registry --regid docker-registry --init-groups \
    /usr/bin/docker-registry serve "${NEW}/config.yml" >"${NEW}/check.log" 2>&1 || rc=$?
if [ "${rc}" -ne 124 ]; then
    echo "registry: the new configuration was rejected (exit ${rc}); the old one stays:" >&2
    grep -v -i secret "${NEW}/check.log" | tail -n 5 >&2
    exit 1
fi

applied="$(cat "${NEW}/config.yml" "${NEW}/htpasswd" "${TLS_DIR}/server.crt" | sha256sum)"
# What is in place now: a hand-edited file may have been loaded by a restart since our last run.
live="$({ cat "${CONFIG_DIR}/config.yml" "${CONFIG_DIR}/htpasswd" "${TLS_DIR}/server.crt" \
    2>/dev/null || true; } | sha256sum)"
mv -f "${NEW}/config.yml" "${CONFIG_DIR}/config.yml"
mv -f "${NEW}/htpasswd" "${CONFIG_DIR}/htpasswd"
systemctl unmask --runtime "${UNIT}" >/dev/null 2>&1 || true
systemctl enable "${UNIT}" >/dev/null 2>&1
if ! systemctl is-active --quiet "${UNIT}" \
    || [ "$(cat "${STATE_DIR}/applied" 2>/dev/null)" != "${applied}" ] \
    || [ "${live}" != "${applied}" ]; then
    echo "registry: (re)starting ${UNIT}"
    systemctl restart "${UNIT}"
fi
printf '%s\n' "${applied}" >"${STATE_DIR}/applied"

# Health: /v2/ answers 401 without credentials and 200 with them, over TLS for ${DOMAIN}.
v2() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "${TLS_DIR}/ca.crt" \
        --connect-to "::127.0.0.1:${PORT}" "$@" "https://${DOMAIN}/v2/" || true
}
code=""
for _ in $(seq 1 30); do
    code="$(v2)"
    [ "${code}" = 401 ] && break
    sleep 1
done
if [ "${code}" != 401 ]; then
    echo "registry: https://${DOMAIN}/v2/ answered '${code}' instead of 401 after 30 s" >&2
    journalctl -u "${UNIT}" -n 20 --no-pager -o cat >&2 || true
    exit 1
fi
code="$(printf 'user = "%s:%s"\n' "${USERNAME}" "${PASSWORD}" | v2 -K -)"
if [ "${code}" != 200 ]; then
    echo "registry: /v2/ refused ${USERNAME}'s password (HTTP ${code})" >&2
    exit 1
fi
echo "registry: https://${DOMAIN}/v2/ healthy (401 anonymous, 200 for ${USERNAME})"
