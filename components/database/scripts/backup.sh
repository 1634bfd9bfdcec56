# Installs the database backups on this node (the replica): the program, its timer, the backup
# directory (0700) and, when backups are copied off the node, that target's login. The timer runs
# the program; this step only (re)installs it. Stdin: the copy target's SSH key, or an empty line.
# Params: RUN_PATH, RUN (the program's text), UNIT, SERVICE_TEXT, TIMER_TEXT, SCHEDULE, DIRECTORY,
# STATE_DIR, LOGIN_DIR, COPY_HOST_LINE (the target's pinned key, empty without a target).
key="$(cat)"
systemd-analyze calendar "${SCHEDULE}" >/dev/null 2>&1 ||
    fail "systemd does not read database.backup.schedule '${SCHEDULE}' as a calendar event" \
        "(man systemd.time); nothing was changed"
say "backup: ${UNIT}.timer runs ${RUN_PATH}"
if [ -n "${COPY_HOST_LINE}" ]; then
    packages_install database-backup rsync openssh-client
fi
install -d -m 0700 "${DIRECTORY}" "${STATE_DIR}" "${LOGIN_DIR}"
(
    umask 077
    printf '%s' "${RUN}" >"${RUN_PATH}.new"
    if [ -n "${COPY_HOST_LINE}" ]; then
        printf '%s\n' "${key}" >"${LOGIN_DIR}/key.new"
        mv -f "${LOGIN_DIR}/key.new" "${LOGIN_DIR}/key"
        printf '%s' "${COPY_HOST_LINE}" >"${LOGIN_DIR}/known_hosts"
    else
        rm -f "${LOGIN_DIR}/key" "${LOGIN_DIR}/known_hosts"
    fi
)
chmod 0700 "${RUN_PATH}.new"
mv -f "${RUN_PATH}.new" "${RUN_PATH}"
printf '%s' "${SERVICE_TEXT}" >"/etc/systemd/system/${UNIT}.service"
printf '%s' "${TIMER_TEXT}" >"/etc/systemd/system/${UNIT}.timer"
systemctl daemon-reload
systemctl enable --now --quiet "${UNIT}.timer"
say "backup: next run $(systemctl show -p NextElapseUSecRealtime --value "${UNIT}.timer")"
"${RUN_PATH}" status
