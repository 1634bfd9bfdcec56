# Worker ${NODE_NAME}'s drain before its step upgrades the kubelet to ${VERSION}, run on the first
# control plane (a worker holds no credentials to drain itself). The workers' steps form a chain,
# and each one's drain comes just before it: first a worker that an earlier link drained and that
# now runs ${VERSION} is uncordoned, then ${NODE_NAME} is cordoned and drained if its kubelet is
# older. Its member step uncordons it once its step has run. Nothing happens on any other change.
# Params: NODE_NAME, VERSION, KUBECTL, ADMIN_KUBECONFIG.
set -euo pipefail
kube() { "${KUBECTL}" --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }
uncordon_upgraded
kubelet=$(kube get node "${NODE_NAME}" -o jsonpath='{.status.nodeInfo.kubeletVersion}' 2>/dev/null) || {
  echo "drain ${NODE_NAME}: not in the cluster yet: nothing to do"
  exit 0
}
if [ "${kubelet}" = "${VERSION}" ]; then
  echo "drain ${NODE_NAME}: runs ${VERSION}: nothing to do"
  exit 0
fi
# The mark first: a run that fails after the cordon still has it uncordoned by the next one.
kube annotate --overwrite node "${NODE_NAME}" "${DRAINED_MARK}=${VERSION}" >/dev/null
kube cordon "${NODE_NAME}" >/dev/null
echo "drain ${NODE_NAME}: ${kubelet} -> ${VERSION}: draining before its kubelet changes"
drain_node "${NODE_NAME}" >/dev/null ||
  echo "drain ${NODE_NAME}: warning: drain did not finish in 300 s; upgrading the kubelet anyway"
