# Installs this control plane's etcd snapshots: the program, its service and the timer that runs
# it; takes a first snapshot when the directory has none, so a new cluster is never without one.
# Params: NODE_NAME, RUN_PATH, RUN (the program's text), UNIT, SERVICE_TEXT, TIMER_TEXT, SCHEDULE,
# DIRECTORY.
set -euo pipefail
log() { echo "[etcd-snapshots ${NODE_NAME}] $*"; }
if ! systemd-analyze calendar "${SCHEDULE}" >/dev/null 2>&1; then
  log "FAILED: systemd does not read kubernetes.etcdSnapshots.schedule '${SCHEDULE}' as a" \
    "calendar event (man systemd.time); nothing was changed"
  exit 1
fi
write "${RUN_PATH}" 0700 "${RUN}" || true
changed=""
write "/etc/systemd/system/${UNIT}.service" 0644 "${SERVICE_TEXT}" && changed=1
write "/etc/systemd/system/${UNIT}.timer" 0644 "${TIMER_TEXT}" && changed=1
[ -z "${changed}" ] || systemctl daemon-reload
systemctl enable --now --quiet "${UNIT}.timer"
install -d -m 0700 "${DIRECTORY}"
if [ -z "$(find "${DIRECTORY}" -maxdepth 1 -name "etcd-${NODE_NAME}-*.db" -print -quit)" ]; then
  "${RUN_PATH}"
fi
log "${UNIT}.timer: next run $(systemctl show -p NextElapseUSecRealtime --value "${UNIT}.timer")," \
  "$(find "${DIRECTORY}" -maxdepth 1 -name "etcd-${NODE_NAME}-*.db" | wc -l) snapshots in ${DIRECTORY}"
