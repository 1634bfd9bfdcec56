# Agent ${NODE_NAME} as a member of the cluster, seen from a server (this node): waits until its
# Node is Ready. The delete script takes it out of the cluster before its own uninstall runs,
# since an agent holds no credentials to drain itself.
# Params: NODE_NAME, WAIT_SECONDS.
set -euo pipefail
kube() { /var/lib/rancher/rke2/bin/kubectl --kubeconfig /etc/rancher/rke2/rke2.yaml "$@"; }
ready() {
  [ "$(kube get node "${NODE_NAME}" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
waited=0
until ready; do
  if [ "${waited}" -ge "${WAIT_SECONDS}" ]; then
    echo "member ${NODE_NAME}: FAILED: not Ready after ${WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 5
  waited=$((waited + 5))
done
echo "member ${NODE_NAME}: Ready"
