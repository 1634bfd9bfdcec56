# rainbond-ha-etcd-snapshot: one snapshot of this control plane's etcd member into ${DIRECTORY},
# checked, then only the newest ${RETENTION} kept. Its timer runs it; so can an operator.
# Params: NODE_NAME, DIRECTORY, RETENTION.
set -euo pipefail
log() { echo "[etcd-snapshot ${NODE_NAME}] $*"; }
pki=/etc/kubernetes/pki/etcd
tls=(--cacert "${pki}/ca.crt" --cert "${pki}/healthcheck-client.crt" --key "${pki}/healthcheck-client.key")
umask 077
install -d -m 0700 "${DIRECTORY}"
name="etcd-${NODE_NAME}-$(date -u +%Y%m%dT%H%M%SZ).db"
partial="${DIRECTORY}/.${name}.partial"
trap 'rm -f "${partial}"' EXIT

# etcd's Maintenance/Snapshot through the gRPC gateway kubeadm's etcd serves (no etcdctl on the
# node): the database in base64 chunks, then its SHA-256 as the last chunk. The file is what
# `etcdctl snapshot save` writes, and `etcdutl snapshot restore` checks that hash. (Go's protojson
# may put a space after a colon, differently in each build.)
curl -sSf --max-time 1800 "${tls[@]}" -X POST -d '{}' https://127.0.0.1:2379/v3/maintenance/snapshot |
  grep -oE '"blob":[[:space:]]*"[^"]*"' | sed -E 's/^"blob":[[:space:]]*"//; s/"$//' |
  while IFS= read -r chunk; do printf '%s' "${chunk}" | base64 -d; done >"${partial}"
size=$(stat -c %s "${partial}")
if [ "${size}" -le 32 ]; then
  log "FAILED: etcd sent ${size} bytes"
  exit 1
fi
sent=$(tail -c 32 "${partial}" | od -An -v -tx1 | tr -d ' \n')
if [ "$(head -c $((size - 32)) "${partial}" | sha256sum | cut -d' ' -f1)" != "${sent}" ]; then
  log "FAILED: the snapshot does not match the checksum etcd sent"
  exit 1
fi
mv -f "${partial}" "${DIRECTORY}/${name}"
log "saved ${DIRECTORY}/${name} ($((size / 1024)) KiB)"

# The names sort by time; the newest RETENTION stay.
find "${DIRECTORY}" -maxdepth 1 -name "etcd-${NODE_NAME}-*.db" -printf '%f\n' | sort -r |
  tail -n +$((RETENTION + 1)) | while IFS= read -r old; do
  rm -f "${DIRECTORY:?}/${old}"
  log "removed ${old} (${RETENTION} kept)"
done
