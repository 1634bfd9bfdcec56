# Takes ${NODE_NAME} out of the cluster, then removes Kubernetes from it. Runs only when the node
# leaves the stack (or on `pulumi destroy`, or `pulumi up --replace`), never on an update.
# A control plane, while another control plane answers, is drained through that one's API (not the
# API address: this node may hold the VIP, and its own API goes with the reset); `kubeadm reset`
# then removes its etcd member and everything kubeadm wrote, and its Node is deleted. A
# worker holds no admin credentials: its member step on the first control plane has drained and
# deleted its Node before this runs. Then the kubelet, the binaries, the CNI configuration, the
# iptables chains Kubernetes and flannel made, containerd's configuration and the packages go.
# Params (those of kubeadm.sh): ROLE, NODE_NAME, API_ENDPOINT, PEERS.
set -euo pipefail
state=/etc/kubernetes/rainbond-ha
admin=/etc/kubernetes/admin.conf
log() { echo "[kubeadm ${ROLE} ${NODE_NAME}] $*"; }

# serving_peer: prints the first other control plane whose /readyz answers.
serving_peer() {
  local address code
  for address in ${PEERS}; do
    code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "https://${address}:${API_ENDPOINT##*:}/readyz")
    if [ "${code}" = 200 ]; then
      echo "${address}"
      return 0
    fi
  done
  return 1
}

if [ "${ROLE}" = control-plane ] && [ -r "${admin}" ] && command -v kubectl >/dev/null &&
  peer=$(serving_peer); then
  # reset deletes admin.conf; the Node is deleted after it, with this copy (removed with ${state}).
  credentials="${state}/admin-for-delete.conf"
  install -m 0600 "${admin}" "${credentials}"
  # Each control plane's serving certificate names its own address.
  kube() {
    kubectl --kubeconfig "${credentials}" --server "https://${peer}:${API_ENDPOINT##*:}" \
      --request-timeout=30s "$@"
  }
  if kube get node "${NODE_NAME}" >/dev/null 2>&1; then
    log "cordon and drain"
    kube cordon "${NODE_NAME}" || true
    drain_node "${NODE_NAME}" ||
      log "warning: drain did not finish in 300 s; the node leaves anyway"
  fi
  # reset removes the etcd member through this node's etcd while the others keep quorum.
  log "kubeadm reset (removes this node's etcd member)"
  kubeadm reset -f >/dev/null 2>&1 || log "warning: kubeadm reset failed; cleaning up anyway"
  kube delete node "${NODE_NAME}" --ignore-not-found >/dev/null ||
    log "warning: could not delete the Node ${NODE_NAME}; kubectl delete node ${NODE_NAME}"
elif command -v kubeadm >/dev/null; then
  log "kubeadm reset"
  kubeadm reset -f >/dev/null 2>&1 || log "warning: kubeadm reset failed; cleaning up anyway"
fi

systemctl disable --now kubelet >/dev/null 2>&1 || true
rm -rf /etc/systemd/system/kubelet.service /etc/systemd/system/kubelet.service.d
systemctl daemon-reload
# What kubeadm reset leaves (it says so itself): CNI configuration, iptables rules, kubeconfigs.
for link in cni0 flannel.1; do
  ip link delete "${link}" >/dev/null 2>&1 || true
done
if command -v iptables-save >/dev/null; then
  for tool in iptables ip6tables; do
    "${tool}-save" | grep -v -E -- '(KUBE-|FLANNEL-|CNI-)' | "${tool}-restore" || true
  done
fi
if systemctl is-active --quiet containerd; then
  # kubeadm reset removed the pods' containers; any it could not are stopped here.
  for task in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do
    ctr -n k8s.io tasks rm -f "${task}" >/dev/null 2>&1 || true
  done
  systemctl stop containerd
fi
# Pod volumes and container root filesystems still mounted would keep their folders.
findmnt -rn -o TARGET | grep -E '^/(var/lib/kubelet|var/lib/containerd|run/containerd)/' |
  sort -r | xargs -r -n1 umount -l 2>/dev/null || true
rm -f /usr/local/bin/kubeadm /usr/local/bin/kubelet /usr/local/bin/kubectl
rm -rf /etc/kubernetes /var/lib/kubelet /var/lib/etcd /etc/cni/net.d /opt/cni /run/flannel "${state}"
# The step made /etc/cni for net.d; an operator's files there would keep it.
rmdir /etc/cni 2>/dev/null || true
rm -f /etc/containerd/config.toml /etc/modules-load.d/rainbond-ha-kubernetes.conf \
  /etc/sysctl.d/90-rainbond-ha-kubernetes.conf
# containerd's images and snapshots; the folder itself may be a mount point.
if [ -d /var/lib/containerd ]; then
  find /var/lib/containerd -mindepth 1 -maxdepth 1 -exec rm -rf {} +
fi
packages_remove kubernetes
log "removed"
