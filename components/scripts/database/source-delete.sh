# Placeholder: stops the ${ENGINE} source; data is kept.
set -euo pipefail
echo "would stop and disable ${ENGINE} on port ${PORT}"
