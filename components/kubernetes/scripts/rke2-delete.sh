# Removes RKE2 from ${NODE_NAME} with its own uninstall script: services, binaries, containers,
# its data (etcd and images under /var/lib/rancher/rke2 go with it) and /etc/rancher/rke2.
set -euo pipefail
log() { echo "[rke2 ${ROLE} ${NODE_NAME}] $*"; }
for uninstall in /usr/local/bin/rke2-uninstall.sh /usr/bin/rke2-uninstall.sh; do
  if [ -x "${uninstall}" ]; then
    log "running ${uninstall}"
    "${uninstall}"
    break
  fi
done
rm -f /etc/rancher/rke2/config.yaml /etc/rancher/rke2/cluster-token
[ -z "${ARTIFACTS}" ] || rm -rf "${ARTIFACTS}"
log "removed"
