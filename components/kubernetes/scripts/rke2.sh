# RKE2 ${ROLE} on ${NODE_NAME}: install ${VERSION} (from ${ARTIFACTS} when air-gapped), write its
# config, start it and wait until it is ready. The cluster token arrives on stdin.
# Params: ROLE (server|agent), VERSION, NODE_NAME, CONFIG (config.yaml), ARTIFACTS (directory on
# the node, empty = download), JOIN_ADDRESS (the server this node registers with, empty for the
# first server), API_PORT. registries.yaml is the registry trust step's, written before this runs.
set -euo pipefail
IFS= read -r TOKEN
[ -n "${TOKEN}" ] || { echo "no cluster token on stdin" >&2; exit 1; }

etc=/etc/rancher/rke2
unit="rke2-${ROLE}"
log() { echo "[rke2 ${ROLE} ${NODE_NAME}] $*"; }

# wait_for WHAT SECONDS COMMAND...: retries COMMAND every 5 s, fails after SECONDS.
wait_for() {
  local what=$1 limit=$2 waited=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "${waited}" -ge "${limit}" ]; then
      log "FAILED: ${what} not ready after ${limit}s"
      journalctl -u "${unit}" -n 30 --no-pager 2>/dev/null || true
      exit 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
  log "${what} ready after ${waited}s"
}

# The API answers (200, or 401 where anonymous requests are refused): the server is up.
api_answers() {
  local code
  code=$(curl -ks -o /dev/null -w '%{http_code}' --max-time 5 "https://$1:${API_PORT}/readyz")
  [ "${code}" = 200 ] || [ "${code}" = 401 ]
}
local_readyz() {
  /var/lib/rancher/rke2/bin/kubectl --kubeconfig "${etc}/rke2.yaml" get --raw /readyz | grep -x ok >/dev/null
}

# 1. Files first: RKE2 reads them on its first start. The token goes to a 0600 file named by
#    config.yaml's token-file, so no secret is on a command line or in config.yaml.
install -d -m 0700 "${etc}"
( umask 077; printf '%s\n' "${TOKEN}" >"${etc}/cluster-token.new" )
mv -f "${etc}/cluster-token.new" "${etc}/cluster-token"
printf '%s' "${CONFIG}" >"${etc}/config.yaml.new"
mv -f "${etc}/config.yaml.new" "${etc}/config.yaml"
log "config written (${etc}/config.yaml, token-file 0600)"

# 2. Install the wanted version unless it is there.
installed=$(/usr/local/bin/rke2 --version 2>/dev/null | awk 'NR==1{print $3}' || true)
if [ "${installed}" != "${VERSION}" ]; then
  if [ -n "${ARTIFACTS}" ]; then
    log "installing ${VERSION} from ${ARTIFACTS} (air-gapped)"
    INSTALL_RKE2_ARTIFACT_PATH="${ARTIFACTS}" INSTALL_RKE2_TYPE="${ROLE}" sh "${ARTIFACTS}/install.sh"
    # Images come from the archives instead of a registry.
    install -d /var/lib/rancher/rke2/agent/images
    find "${ARTIFACTS}" -maxdepth 1 -name 'rke2-images*.tar*' -exec cp -f {} /var/lib/rancher/rke2/agent/images/ \;
  else
    log "installing ${VERSION} from get.rke2.io"
    curl -sfL https://get.rke2.io | INSTALL_RKE2_VERSION="${VERSION}" INSTALL_RKE2_TYPE="${ROLE}" sh -
  fi
else
  log "${VERSION} already installed"
fi

# 3. A joining node waits for the node it registers with.
if [ -n "${JOIN_ADDRESS}" ]; then
  wait_for "API at ${JOIN_ADDRESS}" 600 api_answers "${JOIN_ADDRESS}"
fi

# 4. Start, and (servers) wait for this node's own /readyz so the next server joins a ready one.
systemctl enable "${unit}.service" >/dev/null
systemctl restart "${unit}.service"
if [ "${ROLE}" = server ]; then
  wait_for "local /readyz" 900 local_readyz
else
  wait_for "${unit}" 300 systemctl is-active --quiet "${unit}.service"
fi
log "running"
