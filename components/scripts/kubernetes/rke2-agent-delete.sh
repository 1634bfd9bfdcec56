# Placeholder: removes RKE2 from agent ${NODE_NAME}.
set -euo pipefail
echo "would run rke2-agent-uninstall.sh on ${NODE_NAME}"
