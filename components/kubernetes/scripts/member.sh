# Agent ${NODE_NAME} as a member of the cluster, seen from a server (this node): waits until its
# Node is Ready, then uncordons it if an upgrade drained it (upgrade-drain.sh). The delete script
# takes it out of the cluster before its own uninstall runs, since an agent holds no credentials to
# drain itself.
# Params: NODE_NAME, WAIT_SECONDS, KUBECTL and ADMIN_KUBECONFIG (the server's kubectl and its
# admin credentials).
set -euo pipefail
kube() { "${KUBECTL}" --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }
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
uncordon_upgraded
