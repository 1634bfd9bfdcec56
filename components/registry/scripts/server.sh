# Debian's docker-registry (Distribution 2.8): TLS on ${PORT} for the nodes, and a second
# instance on the same storage, plain HTTP on ${HTTP_PORT}, where Rainbond's builds push (its
# BuildKit speaks only plain HTTP to the image hub: docs/registry.md). htpasswd auth on both.
# Params: PORT, DOMAIN, HTTP_PORT, BUILD_DOMAIN, USERNAME, CONFIG_DIR, TLS_DIR, STATE_DIR,
# DATA_DIR; CA_SHA256 ties the step to the certificate it serves, so a new CA re-runs it.
# Stdin: the password, the htpasswd line, then config.yml and the plain-HTTP instance's, split by
# a `---` line. Nothing secret is printed.
set -euo pipefail
IFS= read -r PASSWORD
IFS= read -r HTPASSWD
CONFIGS="$(cat)"
TLS_CONFIG="${CONFIGS%%$'\n---\n'*}"
HTTP_CONFIG="${CONFIGS#*$'\n---\n'}"
[ -n "${PASSWORD}" ] && [ -n "${HTPASSWD}" ] && [ "${TLS_CONFIG}" != "${HTTP_CONFIG}" ] || {
    echo "registry: stdin must hold the password, the htpasswd line and two configurations" >&2
    exit 1
}
UNIT=docker-registry.service
HTTP_UNIT="${HTTP_SERVICE}.service"
HTTP_UNIT_FILE="/etc/systemd/system/${HTTP_UNIT}"

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

# Images copied here from another node (a move or a restore: docs/operations.md) carry that
# node's owners; the registry must own them to serve and add to them.
if [ -d "${DATA_DIR}" ]; then
    find "${DATA_DIR}" ! -user docker-registry -exec chown -h docker-registry:docker-registry {} +
fi

NEW="$(mktemp -d "${CONFIG_DIR}/.new.XXXXXX")"
trap 'rm -rf "${NEW}"' EXIT
printf '%s\n' "${TLS_CONFIG}" >"${NEW}/config.yml"
printf '%s\n' "${HTTP_CONFIG}" >"${NEW}/${HTTP_CONFIG_FILE}"
printf '%s\n' "${HTPASSWD}" >"${NEW}/htpasswd"
chgrp docker-registry "${NEW}"/*.yml "${NEW}/htpasswd" "${TLS_DIR}/server.key"
chmod 0640 "${NEW}"/*.yml "${NEW}/htpasswd" "${TLS_DIR}/server.key"
chmod 0755 "${NEW}"

# The registry has no check mode: start the new configuration on a spare loopback port. A bad
# file makes it exit at once; still running after a few seconds means it loaded (TLS included).
check() {
    local rc=0
    REGISTRY_HTTP_ADDR=127.0.0.1:0 REGISTRY_AUTH_HTPASSWD_PATH="${NEW}/htpasswd" \
        timeout 4 setpriv --reuid docker-registry --regid docker-registry --init-groups \
        /usr/bin/docker-registry serve "${NEW}/$1" >"${NEW}/check.log" 2>&1 || rc=$?
    if [ "${rc}" -ne 124 ]; then
        echo "registry: the new $1 was rejected (exit ${rc}); the old one stays:" >&2
        grep -v -i secret "${NEW}/check.log" | tail -n 5 >&2
        exit 1
    fi
}
echo "registry: checking the new configuration with docker-registry"
check config.yml
check "${HTTP_CONFIG_FILE}"

# What each instance serves, as we write it and as it is in place now (a hand-edited file may
# have been loaded by a restart since our last run).
served() { cat "$1/$2" "$1/htpasswd" "${@:3}" 2>/dev/null | sha256sum || true; }
applied="$(served "${NEW}" config.yml "${TLS_DIR}/server.crt")"
live="$(served "${CONFIG_DIR}" config.yml "${TLS_DIR}/server.crt")"
applied_http="$(served "${NEW}" "${HTTP_CONFIG_FILE}")"
live_http="$(served "${CONFIG_DIR}" "${HTTP_CONFIG_FILE}")"
mv -f "${NEW}/config.yml" "${CONFIG_DIR}/config.yml"
mv -f "${NEW}/${HTTP_CONFIG_FILE}" "${CONFIG_DIR}/${HTTP_CONFIG_FILE}"
mv -f "${NEW}/htpasswd" "${CONFIG_DIR}/htpasswd"
unit="[Unit]
Description=Docker registry, plain HTTP on ${HTTP_PORT} for Rainbond's builds (rainbond-ha)
After=network.target

[Service]
User=docker-registry
ExecStart=/usr/bin/docker-registry serve ${CONFIG_DIR}/${HTTP_CONFIG_FILE}
Restart=on-failure

[Install]
WantedBy=multi-user.target"
if [ "$(cat "${HTTP_UNIT_FILE}" 2>/dev/null)" != "${unit}" ]; then
    printf '%s\n' "${unit}" >"${HTTP_UNIT_FILE}"
    systemctl daemon-reload
fi
systemctl unmask --runtime "${UNIT}" >/dev/null 2>&1 || true
systemctl enable "${UNIT}" "${HTTP_UNIT}" >/dev/null 2>&1
# Each instance restarts only when what it serves changed (or it is down).
restart_if() {
    if ! systemctl is-active --quiet "$1" \
        || [ "$(cat "${STATE_DIR}/$2" 2>/dev/null)" != "$3" ] || [ "$4" != "$3" ]; then
        echo "registry: (re)starting $1"
        systemctl restart "$1"
    fi
    printf '%s\n' "$3" >"${STATE_DIR}/$2"
}
restart_if "${UNIT}" applied "${applied}" "${live}"
restart_if "${HTTP_UNIT}" applied-http "${applied_http}" "${live_http}"

# Health: /v2/ answers 401 without credentials and 200 with them, over TLS for ${DOMAIN} and
# over plain HTTP for ${BUILD_DOMAIN}.
v2() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "${TLS_DIR}/ca.crt" "$@" || true
}
healthy() {
    local url="$1" unit="$2" code=""
    shift 2
    for _ in $(seq 1 30); do
        code="$(v2 "$@" "${url}")"
        [ "${code}" = 401 ] && break
        sleep 1
    done
    if [ "${code}" != 401 ]; then
        echo "registry: ${url} answered '${code}' instead of 401 after 30 s" >&2
        journalctl -u "${unit}" -n 20 --no-pager -o cat >&2 || true
        exit 1
    fi
    code="$(printf 'user = "%s:%s"\n' "${USERNAME}" "${PASSWORD}" | v2 -K - "$@" "${url}")"
    if [ "${code}" != 200 ]; then
        echo "registry: ${url} refused ${USERNAME}'s password (HTTP ${code})" >&2
        exit 1
    fi
    echo "registry: ${url} healthy (401 anonymous, 200 for ${USERNAME})"
}
healthy "https://${DOMAIN}/v2/" "${UNIT}" --connect-to "::127.0.0.1:${PORT}"
healthy "http://${BUILD_DOMAIN}/v2/" "${HTTP_UNIT}" --connect-to "::127.0.0.1:${HTTP_PORT}"
