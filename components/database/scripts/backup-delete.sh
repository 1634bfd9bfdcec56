# Removes the backup timer, its program and the copy target's login from this node. The backups
# themselves stay in DIRECTORY: they are data. Params: as backup.sh.
say "backup: removing ${UNIT}.timer (the backups in ${DIRECTORY} stay)"
systemctl disable --now --quiet "${UNIT}.timer" 2>/dev/null || true
rm -f "/etc/systemd/system/${UNIT}.timer" "/etc/systemd/system/${UNIT}.service" "${RUN_PATH}"
rm -rf "${LOGIN_DIR}" "${STATE_DIR}"
rmdir "$(dirname "${LOGIN_DIR}")" "$(dirname "${STATE_DIR}")" 2>/dev/null || true
systemctl daemon-reload
packages_remove database-backup
