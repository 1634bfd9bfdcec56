# Takes agent ${NODE_NAME} out of the cluster from a server (this node) before the agent's own
# step uninstalls RKE2 there (that step is deleted after this one: it depends on it): cordon,
# drain, delete the Node. Params: NODE_NAME, KUBECTL, ADMIN_KUBECONFIG.
set -euo pipefail
kube() { "${KUBECTL}" --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }
if [ ! -r "${ADMIN_KUBECONFIG}" ] || ! kube get node "${NODE_NAME}" >/dev/null 2>&1; then
  echo "member ${NODE_NAME}: not in the cluster (or no cluster here): nothing to do"
  exit 0
fi
kube cordon "${NODE_NAME}"
drain_node "${NODE_NAME}" ||
  echo "member ${NODE_NAME}: warning: drain did not finish in 300 s; the node leaves anyway"
kube delete node "${NODE_NAME}"
echo "member ${NODE_NAME}: left the cluster"
