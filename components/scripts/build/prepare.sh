# Placeholder: the directories rbd-chaos mounts from the host.
set -euo pipefail
echo "would create ${CACHE_DIR} and ${DATA_DIR}"
