# Removes the snapshot timer, its service and program from this node. The snapshots stay in
# DIRECTORY: they are what a restore needs after the cluster is gone. Params: as etcd-snapshots.sh.
set -euo pipefail
log() { echo "[etcd-snapshots ${NODE_NAME}] $*"; }
systemctl disable --now --quiet "${UNIT}.timer" 2>/dev/null || true
rm -f "/etc/systemd/system/${UNIT}.timer" "/etc/systemd/system/${UNIT}.service" "${RUN_PATH}"
systemctl daemon-reload
log "removed ${UNIT}.timer; the snapshots in ${DIRECTORY} stay"
