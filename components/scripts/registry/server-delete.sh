# Placeholder: removes the registry service; image data is kept.
set -euo pipefail
echo "would stop and remove docker-registry on port ${PORT}"
