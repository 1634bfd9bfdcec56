# Takes ${NODE_NAME} out of the cluster, then removes RKE2 from it. Runs only when the node leaves
# the stack (or on `pulumi destroy`, or `pulumi up --replace`), never on an update.
# A server first leaves the cluster through another server's API (its own goes with it): cordon,
# drain, etcd member removal (k3s's member controller removes the member of a node annotated
# etcd.k3s.cattle.io/remove and records etcd.k3s.cattle.io/removed-node-name, k3s
# pkg/etcd/member_controller.go), then `kubectl delete node`. With no other server answering
# (the last one of a destroy) there is no cluster left to leave.
# Then rke2-uninstall.sh: services, binaries, containers, /etc/rancher/rke2 and the data under
# /var/lib/rancher/rke2 (etcd and its local snapshots) go. registries.yaml belongs to the
# registry trust step and is put back; that step's own delete removes it when the node leaves.
# An agent holds no admin credentials, so it cannot drain itself: its member step on the first
# server (member-delete.sh) has drained and deleted its node before this runs.
# Params (those of rke2.sh): ROLE, NODE_NAME, ARTIFACTS, PEERS (the other servers' addresses),
# API_PORT, S3_SECRET_FILE.
set -euo pipefail
etc=/etc/rancher/rke2
log() { echo "[rke2 ${ROLE} ${NODE_NAME}] $*"; }
work=$(umask 077 && mktemp -d)
trap 'rm -rf "${work}"' EXIT

api_answers() {
  local code
  code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "https://$1:${API_PORT}/readyz")
  [ "${code}" = 200 ] || [ "${code}" = 401 ]
}

leave_cluster() {
  local peer="" address waited=0
  if [ "${ROLE}" = agent ]; then
    log "an agent leaves through its member step on the first server, which ran before this"
    return 0
  fi
  for address in ${PEERS}; do
    if api_answers "${address}"; then
      peer=${address}
      break
    fi
  done
  if [ -z "${peer}" ] || [ ! -r "${etc}/rke2.yaml" ]; then
    log "no other server answers (${PEERS:-none}): no cluster to leave"
    return 0
  fi
  # This node's admin credentials, pointed at a server that stays.
  sed "s#https://127.0.0.1:${API_PORT}#https://${peer}:${API_PORT}#" "${etc}/rke2.yaml" >"${work}/kubeconfig"
  kube() { /var/lib/rancher/rke2/bin/kubectl --kubeconfig "${work}/kubeconfig" "$@"; }
  if ! kube get node "${NODE_NAME}" >/dev/null 2>&1; then
    log "node ${NODE_NAME} is not in the cluster any more"
    return 0
  fi
  log "cordon and drain through ${peer}"
  kube cordon "${NODE_NAME}"
  drain_node "${NODE_NAME}" || log "warning: drain did not finish in 300 s; the node leaves anyway"
  if [ "${ROLE}" = server ]; then
    log "removing ${NODE_NAME}'s etcd member"
    kube annotate node "${NODE_NAME}" --overwrite etcd.k3s.cattle.io/remove=true
    until [ -n "$(kube get node "${NODE_NAME}" \
      -o jsonpath='{.metadata.annotations.etcd\.k3s\.cattle\.io/removed-node-name}')" ]; do
      if [ "${waited}" -ge 180 ]; then
        log "FAILED: the etcd member of ${NODE_NAME} was not removed within 180 s"
        exit 1
      fi
      sleep 5
      waited=$((waited + 5))
    done
  fi
  kube delete node "${NODE_NAME}"
  log "left the cluster"
}

leave_cluster
[ -f "${etc}/registries.yaml" ] && cp -p "${etc}/registries.yaml" "${work}/registries.yaml"
for uninstall in /usr/local/bin/rke2-uninstall.sh /opt/rke2/bin/rke2-uninstall.sh /usr/bin/rke2-uninstall.sh; do
  if [ -x "${uninstall}" ]; then
    log "running ${uninstall}"
    "${uninstall}"
    break
  fi
done
rm -f "${etc}/config.yaml" "${etc}/cluster-token" "${S3_SECRET_FILE}"
rm -rf /var/lib/rancher/rke2-ha
if [ -f "${work}/registries.yaml" ]; then
  install -d -m 0700 "${etc}"
  cp -p "${work}/registries.yaml" "${etc}/registries.yaml"
fi
[ -z "${ARTIFACTS}" ] || rm -rf "${ARTIFACTS}"
log "removed"
