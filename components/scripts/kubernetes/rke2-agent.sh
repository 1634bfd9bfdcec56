# Placeholder: RKE2 agent ${NODE_NAME}; the cluster token arrives on stdin.
set -euo pipefail
IFS= read -r TOKEN
[ -n "${TOKEN}" ]
echo "would install rke2-agent ${VERSION} as ${NODE_NAME} (${NODE_IP}), server https://${JOIN_ADDRESS}:9345"
