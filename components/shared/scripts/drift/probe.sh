# Prints one line per drift from step ${STEP}'s manifest: a file changed or missing, a service
# not active. Prints nothing when the node is as the step left it. Changes nothing.
set -euo pipefail
manifest="${MANIFESTS}/${STEP}"
if [ ! -r "${manifest}/files.sha256" ] || [ ! -r "${manifest}/services" ]; then
    echo "no record of ${STEP} on this node (its last run did not finish)"
    exit 0
fi
# sha256sum names each file that differs or is gone; its exit status says only that some did.
{ LC_ALL=C sha256sum --check "${manifest}/files.sha256" 2>/dev/null || true; } |
    sed -n -e 's/: FAILED open or read$/ missing/p' -e 's/: FAILED$/ changed/p'
while IFS= read -r service; do
    state=$(systemctl is-active "${service}" 2>/dev/null || true)
    [ "${state}" = active ] || echo "${service} ${state:-unknown}"
done <"${manifest}/services"
