# Removes our options and what the server step installed. The data directory stays (the data
# step deletes it on destroy when the config asks). Params: as server.sh.
rm -f "${CONFIG_DIR}/${CONFIG_FILE}" "${CONFIG_DIR}/${SOURCE_CONFIG_FILE}"
if [ -e "${STATE_DIR}/${PACKAGE}.installed" ]; then
    systemctl disable --now "${SERVICE}" >/dev/null 2>&1 || true
    remove_package "${PACKAGE}"
elif installed "${PACKAGE}" && systemctl is-active --quiet "${SERVICE}"; then
    say "${PACKAGE} was there before; restarting it with its own options"
    systemctl restart "${SERVICE}"
fi
say "server removed; data kept in ${DATA_DIR}"
