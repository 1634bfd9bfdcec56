# Takes agent ${NODE_NAME} out of the cluster from a server (this node) before the agent's own
# step uninstalls RKE2 there (that step is deleted after this one: it depends on it): cordon,
# drain, delete the Node. Params: NODE_NAME.
set -euo pipefail
kube() { /var/lib/rancher/rke2/bin/kubectl --kubeconfig /etc/rancher/rke2/rke2.yaml "$@"; }
if [ ! -r /etc/rancher/rke2/rke2.yaml ] || ! kube get node "${NODE_NAME}" >/dev/null 2>&1; then
  echo "member ${NODE_NAME}: not in the cluster (or no cluster here): nothing to do"
  exit 0
fi
kube cordon "${NODE_NAME}"
kube drain "${NODE_NAME}" --ignore-daemonsets --delete-emptydir-data --force --timeout=300s \
  || echo "member ${NODE_NAME}: warning: drain did not finish in 300 s; the node leaves anyway"
kube delete node "${NODE_NAME}"
echo "member ${NODE_NAME}: left the cluster"
