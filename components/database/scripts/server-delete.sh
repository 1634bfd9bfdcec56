# Removes our options and what the server step installed. The data directory stays (the data
# step deletes it on destroy when the config asks). Params: as server.sh.
rm -f "${CONFIG_DIR}/${CONFIG_FILE}" "${CONFIG_DIR}/${SOURCE_CONFIG_FILE}"
if packages_brought "database-${PACKAGE}" "${PACKAGE}"; then
    systemctl disable --now "${SERVICE}" >/dev/null 2>&1 || true
    packages_remove "database-${PACKAGE}"
elif installed "${PACKAGE}" && systemctl is-active --quiet "${SERVICE}"; then
    say "${PACKAGE} was there before; restarting it with its own options"
    systemctl restart "${SERVICE}"
fi
say "server removed; data kept in ${DATA_DIR}"
