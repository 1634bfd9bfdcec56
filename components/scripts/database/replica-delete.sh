# Placeholder: stops replication and the ${ENGINE} replica; data is kept.
set -euo pipefail
echo "would stop replication from ${SOURCE_HOST} and disable ${ENGINE}"
