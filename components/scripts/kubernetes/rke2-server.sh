# Placeholder: RKE2 server ${NODE_NAME}; the cluster token arrives on stdin.
set -euo pipefail
IFS= read -r TOKEN
[ -n "${TOKEN}" ]
echo "would install rke2-server ${VERSION} as ${NODE_NAME} (${NODE_IP}), tls-san ${API_ADDRESS}"
if [ -n "${JOIN_ADDRESS}" ]; then
  echo "would join https://${JOIN_ADDRESS}:9345 and wait for /readyz"
fi
