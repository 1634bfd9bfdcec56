# The database server on this node: the engine's package and our options file, checked by the
# server itself before it replaces the old one. Every node starts read-only; the source step
# lifts that on the source. Params: Dialect's (PACKAGE, SERVICE, SERVER, VALIDATE, CONFIG_DIR),
# CONFIG_FILE, CONFIG (the file's text), PORT.
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
