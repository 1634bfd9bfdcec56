# Placeholder: removes RKE2 from server ${NODE_NAME}.
set -euo pipefail
echo "would run rke2-uninstall.sh on ${NODE_NAME}"
