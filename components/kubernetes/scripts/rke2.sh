# RKE2 ${ROLE} on ${NODE_NAME}: converge to ${VERSION} with this config, restarting only when
# something RKE2 reads at start changed, then gate on health. Runs again in place on every change
# (a new version installs over the old one: RKE2's supported manual upgrade, docs.rke2.io
# upgrades/manual_upgrade); it never uninstalls.
# Stdin: the cluster token, then (servers) the etcd S3 drop-in's one line, empty without S3.
# Params: ROLE (server|agent), VERSION, NODE_NAME, CONFIG (config.yaml, naming the registration
# address with `server:`), ARTIFACTS (directory on the node, empty = download), REGISTRATION (the
# fixed registration address), PEERS (the other servers' addresses), BOOTSTRAP (1 on the one
# server that may initialise a cluster when none exists), API_PORT, SUPERVISOR_PORT,
# S3_SECRET_FILE, TRUST_DIGEST (changes when this node's registry trust does), SERVERS (the names
# of every server the stack has).
# registries.yaml is the registry trust step's, written before this runs.
set -euo pipefail
IFS= read -r TOKEN
IFS= read -r S3_DROPIN || true
[ -n "${TOKEN}" ] || { echo "no cluster token on stdin" >&2; exit 1; }

etc=/etc/rancher/rke2
state=/var/lib/rancher/rke2-ha
unit="rke2-${ROLE}"
kubectl=(/var/lib/rancher/rke2/bin/kubectl --kubeconfig "${etc}/rke2.yaml")
# k3s (which RKE2 embeds) treats a node whose etcd WAL directory exists as a member and starts
# it from its own data, whatever `server:` says (k3s pkg/etcd/etcd.go, IsInitialized and Start).
etcd_wal=/var/lib/rancher/rke2/server/db/etcd/member/wal
log() { echo "[rke2 ${ROLE} ${NODE_NAME}] $*"; }
restart_for=()

# install.sh unpacks into /usr/local, or /opt/rke2 where /usr/local is read-only or a mount
# point (rancher/rke2 install.sh, INSTALL_RKE2_TAR_PREFIX); RPM installs go to /usr/bin.
installed_version() {
  local binary
  for binary in /usr/local/bin/rke2 /opt/rke2/bin/rke2 /usr/bin/rke2; do
    if [ -x "${binary}" ]; then
      "${binary}" --version 2>/dev/null | awk 'NR==1{print $3}'
      return 0
    fi
  done
}

# The supervisor answers /cacerts without credentials once a server runs there.
supervisor_answers() {
  curl -ksf -o /dev/null --max-time 5 "https://$1:${SUPERVISOR_PORT}/cacerts"
}
anyone_serves() {
  local address
  for address in ${REGISTRATION} ${PEERS}; do
    supervisor_answers "${address}" && return 0
  done
  return 1
}
local_readyz() {
  "${kubectl[@]}" get --raw /readyz | grep -x ok >/dev/null
}
# Every etcd member answers, through etcdctl in this server's etcd pod (the way Rancher's
# knowledge base runs etcdctl on RKE2; the certificates are the ones the pod mounts).
etcd_healthy() {
  local tls=/var/lib/rancher/rke2/server/tls/etcd
  "${kubectl[@]}" -n kube-system exec "etcd-${NODE_NAME}" -- etcdctl \
    --cacert "${tls}/server-ca.crt" --cert "${tls}/server-client.crt" --key "${tls}/server-client.key" \
    endpoint health --cluster
}

# A server the stack no longer has whose Node is not Ready has died: it cannot run its own delete,
# so the servers that stay take its etcd member out (k3s's member controller removes the member of
# a node annotated etcd.k3s.cattle.io/remove) and delete its Node, before etcd's health is judged
# and before a successor joins. A leaving server that still runs is left to its own delete,
# which drains it first.
forget_dead_servers() {
  local name ready waited
  for name in $("${kubectl[@]}" get nodes -l node-role.kubernetes.io/etcd=true \
      -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'); do
    case " ${SERVERS} " in *" ${name} "*) continue ;; esac
    # Not knowing is not dead: a failed read leaves the node alone.
    ready=$("${kubectl[@]}" get node "${name}" \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') || continue
    [ "${ready}" = True ] && continue
    log "server ${name} left the stack and is not Ready: removing its etcd member and its Node"
    "${kubectl[@]}" annotate node "${name}" --overwrite etcd.k3s.cattle.io/remove=true
    waited=0
    until [ -n "$("${kubectl[@]}" get node "${name}" \
      -o jsonpath='{.metadata.annotations.etcd\.k3s\.cattle\.io/removed-node-name}')" ]; do
      [ "${waited}" -lt 180 ] || { log "FAILED: the etcd member of ${name} is still there"; exit 1; }
      sleep 5
      waited=$((waited + 5))
    done
    "${kubectl[@]}" delete node "${name}"
  done
}

# The registry trust step wrote registries.yaml before this step ever ran; if it is gone (RKE2
# uninstalled by hand), RKE2 would pull from the wrong place: stop before changing anything.
if [ ! -f "${etc}/registries.yaml" ]; then
  log "FAILED: ${etc}/registries.yaml is missing; the registry trust step writes it:" \
    "pulumi up --replace <the URN of registry-trust-${NODE_NAME}> writes it again"
  exit 1
fi

# 1. Files. The token goes to a 0600 file named by config.yaml's token-file, the S3 secret key
#    to a 0600 drop-in, so no secret is on a command line or in config.yaml.
install -d -m 0700 "${etc}" "${state}"
write "${etc}/cluster-token" 0600 "${TOKEN}" && restart_for+=(token)
if [ "${ROLE}" = server ] && [ -n "${S3_DROPIN}" ]; then
  install -d -m 0700 "$(dirname "${S3_SECRET_FILE}")"
  write "${S3_SECRET_FILE}" 0600 "${S3_DROPIN}" && restart_for+=(s3)
elif [ -e "${S3_SECRET_FILE}" ]; then
  rm -f "${S3_SECRET_FILE}"
  restart_for+=(s3)
fi

# One cluster, whatever is replaced: every server names the registration address. Only the
# bootstrap server, holding no etcd data, and only when nothing answers at the registration
# address or at any other server, starts without it: that is the stack's first deployment.
config=${CONFIG%$'\n'}
initialise=no
if [ "${BOOTSTRAP}" = 1 ] && [ ! -d "${etcd_wal}" ] && nobody_serves; then
  initialise=yes
fi
if [ "${initialise}" = yes ]; then
  log "no server answers at ${REGISTRATION} ${PEERS} and this node holds no etcd data: initialising the cluster"
  config=$(printf '%s\n' "${config}" | grep -v '^server: ')
fi
write "${etc}/config.yaml" 0600 "${config}" && restart_for+=(config)

# 2. The wanted version, installed over whatever is there. install.sh stages the air-gapped image
#    archives into agent/images itself (install_airgap_tarball), so nothing is copied here.
installed=$(installed_version || true)
if [ "${installed}" != "${VERSION}" ]; then
  if [ -n "${ARTIFACTS}" ]; then
    log "installing ${VERSION} over '${installed:-nothing}' from ${ARTIFACTS} (air-gapped)"
    INSTALL_RKE2_ARTIFACT_PATH="${ARTIFACTS}" INSTALL_RKE2_TYPE="${ROLE}" sh "${ARTIFACTS}/install.sh"
  else
    log "installing ${VERSION} over '${installed:-nothing}' from get.rke2.io"
    curl -sfL https://get.rke2.io | INSTALL_RKE2_VERSION="${VERSION}" INSTALL_RKE2_TYPE="${ROLE}" sh -
  fi
  restart_for+=(version)
else
  log "${VERSION} already installed"
fi

# 3. RKE2 renders containerd's registry configuration from registries.yaml only when it starts.
registries=$(sha256sum "${etc}/registries.yaml" | cut -d' ' -f1)
[ "${registries}" = "$(cat "${state}/registries.sha256" 2>/dev/null || true)" ] || restart_for+=(registries)
systemctl is-active --quiet "${unit}.service" || restart_for+=(stopped)

# 4. Restart only for a reason, one node at a time (the steps form a chain), and gate on health.
if [ "${#restart_for[@]}" -gt 0 ]; then
  if [ "${initialise}" = no ] && [ ! -d "${etcd_wal}" ]; then
    wait_for "registration address ${REGISTRATION}" 600 supervisor_answers "${REGISTRATION}"
  fi
  log "restarting ${unit} (changed: ${restart_for[*]})"
  systemctl enable "${unit}.service" >/dev/null
  systemctl restart "${unit}.service"
else
  log "nothing RKE2 reads at start changed: not restarting"
fi
if [ "${ROLE}" = server ]; then
  wait_for "local /readyz" 900 local_readyz
  forget_dead_servers
  wait_for "every etcd member healthy" 300 etcd_healthy
else
  wait_for "${unit}" 300 systemctl is-active --quiet "${unit}.service"
fi
printf '%s\n' "${registries}" >"${state}/registries.sha256"
if [ "${initialise}" = yes ]; then
  # From now on this node is a member: its config names the registration address like every
  # other server's, so a later run (or a replacement of this node) joins instead.
  write "${etc}/config.yaml" 0600 "${CONFIG%$'\n'}" || true
fi
log "running ${VERSION}"
