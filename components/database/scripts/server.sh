# The database server on this node: the engine's package and our options file, checked by the
# server itself before it replaces the old one. Every node starts read-only; the source step
# lifts that on the source. A writable server restarts for new options only once the other node
# (PEER_ADDRESS) has applied everything it wrote. Stdin: the replication password. Params:
# Dialect's (PACKAGE, SERVICE, SERVER, VALIDATE, CONFIG_DIR, SOURCE_POSITION, WAIT_FUNCTION),
# CONFIG_FILE, CONFIG (the file's text), PORT, PEER_ADDRESS, WAIT_SECONDS.
IFS= read -r REPLICATION_PASSWORD || true
say "server: ${PACKAGE} with ${CONFIG_DIR}/${CONFIG_FILE}"
install_package "${PACKAGE}" "${SERVICE}.service"

NEW="$(mktemp)"
trap 'rm -f "${NEW}"' EXIT
printf '%s' "${CONFIG}" >"${NEW}"
chmod 0644 "${NEW}"
if ! "${SERVER}" --defaults-extra-file="${NEW}" ${VALIDATE} >/dev/null 2>"${NEW}.log"; then
    grep -v Warning "${NEW}.log" | tail -n 5 >&2
    rm -f "${NEW}.log"
    fail "${SERVER} rejected the new options; ${CONFIG_DIR}/${CONFIG_FILE} is unchanged"
fi
rm -f "${NEW}.log"
changed=false
if ! cmp -s "${NEW}" "${CONFIG_DIR}/${CONFIG_FILE}"; then
    if server_up && [ "$(sql -e 'SELECT @@GLOBAL.read_only' 2>/dev/null)" = 0 ]; then
        # The source: its replica must hold every committed row before writes stop for the
        # restart. Asked before the file changes, so a refusal leaves the node as it was.
        read -r _ position <<<"$(sql -e "${SOURCE_POSITION}")"
        replication_login "${REPLICATION_PASSWORD}"
        trap 'rm -rf "${CLIENT_DIR}" "${NEW}"' EXIT
        waited="$(remote_sql "${PEER_ADDRESS}" \
            "SELECT ${WAIT_FUNCTION}('${position}', ${WAIT_SECONDS})" || echo unreachable)"
        [ "${waited}" = 0 ] || fail "not restarting the source for its new options: the replica" \
            "${PEER_ADDRESS} has not applied ${position} (${waited}); bring it back and run again"
        say "the replica ${PEER_ADDRESS} has applied ${position}"
    fi
    mv -f "${NEW}" "${CONFIG_DIR}/${CONFIG_FILE}"
    changed=true
fi
systemctl enable "${SERVICE}" >/dev/null 2>&1
if [ "${changed}" = true ] || ! systemctl is-active --quiet "${SERVICE}"; then
    say "(re)starting ${SERVICE}"
    systemctl restart "${SERVICE}"
fi
wait_server
ss -Hltn "sport = :${PORT}" | grep . >/dev/null || fail "${SERVICE} does not listen on port ${PORT}"
say "server: ${SERVICE} up on port ${PORT}, $(sql -e 'SELECT IF(@@GLOBAL.read_only, "read-only", "writable")')"
