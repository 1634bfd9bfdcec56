# Removes step ${STEP}'s manifest once its delete script has undone the step.
set -euo pipefail
rm -rf "${MANIFESTS:?}/${STEP}"
# The folders go with the last manifest; another step's state may still live beside them.
rmdir "${MANIFESTS}" "$(dirname "${MANIFESTS}")" 2>/dev/null || true
echo "drift: forgot ${STEP}"
