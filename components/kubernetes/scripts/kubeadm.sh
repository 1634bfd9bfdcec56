# kubeadm ${ROLE} ${NODE_NAME}: converges this node to Kubernetes ${VERSION}. The container runtime
# comes from the OS packages; kubeadm, kubelet and kubectl from ARTIFACTS (air-gapped) or dl.k8s.io.
# The node then joins the cluster, or initialises it when it is the bootstrap control plane and
# no API answers anywhere (the stack's first deployment). Runs again in place on every change: a
# new version is `kubeadm upgrade apply` on the first control plane to reach it and `kubeadm
# upgrade node` everywhere else, then the kubelet; nothing is ever reset by an update.
# Stdin: the bootstrap token, then the certificate key (an empty line on workers).
# Params: ROLE (control-plane|worker), VERSION, NODE_NAME, ARTIFACTS (directory on the node, empty
# = download), API_ENDPOINT (host:port), PEERS (the other control planes' addresses), BOOTSTRAP (1
# on the one control plane that may initialise), INIT_CONFIG, JOIN_CONFIG (kubeadm's, with
# @TOKEN@ and @CERTIFICATE_KEY@ for the secrets), CONTAINERD_CONFIG, SERVERS (on the bootstrap
# control plane: the names of every control plane the stack has). containerd reads the registry
# trust's certs.d at every pull, so a change there needs no restart.
set -euo pipefail
IFS= read -r TOKEN
IFS= read -r CERTIFICATE_KEY || true
[ -n "${TOKEN}" ] || { echo "no bootstrap token on stdin" >&2; exit 1; }

state=/etc/kubernetes/rainbond-ha
admin=/etc/kubernetes/admin.conf
drained=${state}/drained-for-upgrade
unit=kubelet
packages=(containerd runc containernetworking-plugins iptables conntrack socat ethtool kmod curl openssl)
log() { echo "[kubeadm ${ROLE} ${NODE_NAME}] $*"; }
kube() { kubectl --kubeconfig "${admin}" "$@"; }

# The secrets go into 0600 files only.
with_secrets() {
  local text=${1//@TOKEN@/${TOKEN}}
  printf '%s' "${text//@CERTIFICATE_KEY@/${CERTIFICATE_KEY}}"
}

api_answers() {
  local code
  code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "https://$1/readyz")
  [ "${code}" = 200 ] || [ "${code}" = 401 ] || [ "${code}" = 403 ]
}
anyone_serves() {
  local address
  for address in "${API_ENDPOINT}" ${PEERS}; do
    [[ "${address}" == *:* ]] || address="${address}:${API_ENDPOINT##*:}"
    api_answers "${address}" && return 0
  done
  return 1
}
local_readyz() {
  [ "$(curl -ks --max-time 5 "https://127.0.0.1:${API_ENDPOINT##*:}/readyz")" = ok ]
}
# Every etcd member answers its health endpoint, with the certificate kubeadm made for that.
etcd_healthy() {
  local pki=/etc/kubernetes/pki/etcd url
  local tls=(--cacert "${pki}/ca.crt" --cert "${pki}/healthcheck-client.crt" --key "${pki}/healthcheck-client.key")
  local urls
  urls=$(curl -sf --max-time 5 "${tls[@]}" -X POST -d '{}' https://127.0.0.1:2379/v3/cluster/member/list |
    grep -oE '"clientURLs":[[:space:]]*\[[[:space:]]*"[^"]*"' | sed -E 's/.*"([^"]*)"$/\1/') || return 1
  [ -n "${urls}" ] || return 1
  for url in ${urls}; do
    [[ "$(curl -sf --max-time 5 "${tls[@]}" "${url}/health")" == *'"health":"true"'* ]] || return 1
  done
}
kubelet_version() {
  if [ -x /usr/local/bin/kubelet ]; then
    /usr/local/bin/kubelet --version 2>/dev/null | awk '{print $2}'
  fi
}

installed_version() {
  case $1 in
    kubeadm) /usr/local/bin/kubeadm version -o short 2>/dev/null ;;
    kubectl) /usr/local/bin/kubectl version --client -o yaml 2>/dev/null | awk '/gitVersion:/ && !seen {print $2; seen = 1}' ;;
    kubelet) kubelet_version ;;
  esac
}

# fetch BINARY: kubeadm, kubelet or kubectl of VERSION into /usr/local/bin, unless it is there
# (a run for another change downloads nothing).
fetch() {
  local binary=$1 source
  [ "$(installed_version "${binary}" || true)" = "${VERSION}" ] && return 0
  if [ -n "${ARTIFACTS}" ]; then
    source="${ARTIFACTS}/bin/${binary}"
  else
    source="${state}/download/${binary}"
    install -d -m 0700 "${state}/download"
    local url="https://dl.k8s.io/release/${VERSION}/bin/linux/amd64/${binary}"
    curl -sfL --retry 3 -o "${source}" "${url}"
    echo "$(curl -sfL --retry 3 "${url}.sha256")  ${source}" | sha256sum -c --quiet -
  fi
  install -m 0755 "${source}" "/usr/local/bin/${binary}.new"
  mv -f "/usr/local/bin/${binary}.new" "/usr/local/bin/${binary}"
}

# 0. A node moves between control plane and worker only by leaving the cluster and joining again.
#    Pulumi creates this role's step before it deletes the other role's, so a node still in its
#    old role is left untouched, and the `up` stops here.
if [ -f /etc/kubernetes/kubelet.conf ]; then
  joined=worker
  [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && joined=control-plane
  if [ "${joined}" != "${ROLE}" ]; then
    log "FAILED: this node is a ${joined} of the cluster and the stack makes it a ${ROLE}: remove" \
      "it from nodes and run pulumi up, then add it back with its new role (docs/operations.md)" >&2
    exit 1
  fi
fi

# 1. The container runtime and the tools kubeadm's preflight wants, from the OS packages.
packages_install kubernetes "${packages[@]}"

# 2. The kernel: bridged pod traffic through iptables, forwarding. Where the kernel has them built
#    in (or a container node shares its host's), there is nothing to load.
write /etc/modules-load.d/rainbond-ha-kubernetes.conf 0644 $'overlay\nbr_netfilter' || true
[ -d /proc/sys/net/bridge ] || modprobe br_netfilter
sysctls=$'net.ipv4.ip_forward = 1\nnet.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1'
write /etc/sysctl.d/90-rainbond-ha-kubernetes.conf 0644 "${sysctls}" || true
sysctl -q -p /etc/sysctl.d/90-rainbond-ha-kubernetes.conf

# 3. containerd: the CRI configuration, restarted only when it changed. Without CAP_SYS_RESOURCE
#    (a node that is itself a container) a pod sandbox's negative OOM score cannot be set.
restrict=false
capabilities=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
(((0x${capabilities} >> 24) & 1)) || restrict=true
if write /etc/containerd/config.toml 0644 "${CONTAINERD_CONFIG//@RESTRICT_OOM_SCORE_ADJ@/${restrict}}"; then
  log "containerd configuration changed: restarting containerd"
  systemctl restart containerd
fi
systemctl enable --now containerd >/dev/null 2>&1
install -d /opt/cni/bin /etc/cni/net.d
for plugin in /usr/lib/cni/*; do
  ln -sfn "${plugin}" "/opt/cni/bin/$(basename "${plugin}")"
done

# 4. kubeadm, kubectl, and on a new node the kubelet, of VERSION; an upgrade changes the
#    kubelet after the control plane (step 7).
install -d -m 0700 "${state}"
current=$(kubelet_version || true)
fetch kubeadm
fetch kubectl
[ -n "${current}" ] || fetch kubelet
write /etc/systemd/system/kubelet.service 0644 "[Unit]
Description=kubelet: The Kubernetes Node Agent (rainbond-ha)
Wants=network-online.target
After=network-online.target containerd.service

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
RestartSec=5
StartLimitInterval=0

[Install]
WantedBy=multi-user.target" && systemctl daemon-reload
# kubeadm's own drop-in (kubernetes/release cmd/krel/templates/.../10-kubeadm.conf).
write /etc/systemd/system/kubelet.service.d/10-kubeadm.conf 0644 '[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS' &&
  systemctl daemon-reload
systemctl enable kubelet >/dev/null 2>&1

# 5. Air-gapped images, each archive imported once.
if [ -n "${ARTIFACTS}" ] && [ -d "${ARTIFACTS}/images" ]; then
  install -d -m 0700 "${state}/imported"
  for archive in "${ARTIFACTS}"/images/*.tar; do
    [ -e "${archive}" ] || continue
    sum=$(sha256sum "${archive}" | cut -d' ' -f1)
    [ -e "${state}/imported/${sum}" ] && continue
    log "importing $(basename "${archive}")"
    ctr -n k8s.io images import --no-unpack "${archive}" >/dev/null
    touch "${state}/imported/${sum}"
  done
fi

# 6. Into the cluster. cgroup v1 hosts fail kubeadm's SystemVerification (the kubelet is told to
#    accept them by its configuration).
preflight=()
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  log "warning: cgroup v1 on this host; Kubernetes deprecates it"
  preflight=(--ignore-preflight-errors=SystemVerification)
fi
write "${state}/init.yaml" 0600 "$(with_secrets "${INIT_CONFIG}")" || true
write "${state}/join.yaml" 0600 "$(with_secrets "${JOIN_CONFIG}")" || true
if [ ! -f /etc/kubernetes/kubelet.conf ] && [ "${BOOTSTRAP}" != 1 ] && [ -z "${JOIN_CONFIG}" ]; then
  log "FAILED: no CA hash to join with yet (the first control plane has not run)"
  exit 1
fi
if [ ! -f /etc/kubernetes/kubelet.conf ]; then
  if [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] || [ -d /var/lib/etcd/member ] ||
    [ -e /etc/kubernetes/pki/ca.crt ]; then
    log "an earlier attempt left files behind: kubeadm reset before trying again"
    kubeadm reset -f >/dev/null 2>&1 || true
  fi
  if [ "${BOOTSTRAP}" = 1 ] && nobody_serves; then
    log "no API answers at ${API_ENDPOINT} ${PEERS}: kubeadm init"
    kubeadm init --config "${state}/init.yaml" --upload-certs --skip-token-print "${preflight[@]}" \
      >"${state}/init.log" 2>&1 || { tail -n 40 "${state}/init.log"; exit 1; }
  elif [ -z "${JOIN_CONFIG}" ]; then
    log "FAILED: a cluster answers, and the first control plane cannot rejoin it on its own;" \
      "see docs/kubernetes.md, 'Replacing the first control plane'"
    exit 1
  else
    wait_for "the API at ${API_ENDPOINT}" 600 api_answers "${API_ENDPOINT}"
    log "kubeadm join"
    kubeadm join --config "${state}/join.yaml" "${preflight[@]}" \
      >"${state}/join.log" 2>&1 || { tail -n 40 "${state}/join.log"; exit 1; }
  fi
# 7. An upgrade: the control plane first (one node at a time: the steps form a chain), then this
#    node's kubelet. A control plane is drained before its kubelet changes and uncordoned in step 8
#    (the marker file carries that over a failed run). A worker holds no credentials to drain
#    itself: its drain step on the first control plane has drained it (upgrade-drain.sh).
elif [ "${current}" != "${VERSION}" ]; then
  cluster=""
  if [ "${ROLE}" = control-plane ]; then
    cluster=$(kube -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' |
      awk '/^kubernetesVersion:/ {print $2}')
  fi
  if [ "${ROLE}" = control-plane ] && [ "${cluster}" != "${VERSION}" ]; then
    log "upgrading the cluster from ${cluster} to ${VERSION}: kubeadm upgrade apply"
    kubeadm upgrade apply -y "${VERSION}" "${preflight[@]}" >"${state}/upgrade.log" 2>&1 ||
      { tail -n 40 "${state}/upgrade.log"; exit 1; }
  else
    log "upgrading this node from ${current} to ${VERSION}: kubeadm upgrade node"
    kubeadm upgrade node >"${state}/upgrade.log" 2>&1 || { tail -n 40 "${state}/upgrade.log"; exit 1; }
  fi
  if [ "${ROLE}" = control-plane ]; then
    log "drain before the kubelet changes"
    touch "${drained}"
    drain_node "${NODE_NAME}" >/dev/null ||
      log "warning: drain did not finish in 300 s; upgrading the kubelet anyway"
  fi
  systemctl stop kubelet
  fetch kubelet
  systemctl start kubelet
else
  log "${VERSION} already running"
fi
systemctl is-active --quiet kubelet || systemctl start kubelet

# 8. Health before the next node starts.
if [ "${ROLE}" = control-plane ]; then
  wait_for "local /readyz" 600 local_readyz
  wait_for "every etcd member healthy" 300 etcd_healthy
  if [ -e "${drained}" ]; then
    kube uncordon "${NODE_NAME}" >/dev/null
    rm -f "${drained}"
    log "uncordoned after the upgrade"
  fi
  # Masters run Rainbond's pods too (kubeadm_config.py); a node joined with the taint loses it.
  taint=node-role.kubernetes.io/control-plane
  if [[ " $(kube get node "${NODE_NAME}" -o jsonpath='{.spec.taints[*].key}') " == *" ${taint} "* ]]; then
    kube taint node "${NODE_NAME}" "${taint}:NoSchedule-" >/dev/null
    log "removed the ${taint} taint"
  fi
  if [ "${BOOTSTRAP}" = 1 ]; then
    # The token again (a deleted one comes back), and the control-plane certificates uploaded
    # again (kubeadm keeps them 2 h) while the stack names a control plane the cluster lacks.
    kubeadm init phase bootstrap-token --config "${state}/init.yaml" >/dev/null
    for server in ${SERVERS}; do
      if ! kube get node "${server}" >/dev/null 2>&1; then
        log "${server} is still to join: uploading the control-plane certificates"
        kubeadm init phase upload-certs --upload-certs --config "${state}/init.yaml" >/dev/null
        break
      fi
    done
  fi
  hash=$(openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt |
    openssl pkey -pubin -outform der 2>/dev/null | sha256sum | cut -d' ' -f1)
  log "running ${VERSION}"
  echo "ca-cert-hash sha256:${hash}"
else
  wait_for kubelet 300 systemctl is-active --quiet kubelet
  log "running ${VERSION}"
fi
