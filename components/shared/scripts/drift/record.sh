# Records what step ${STEP} owns as its script left it: a checksum of each file in OWNED_FILES
# and the units in OWNED_SERVICES (one per line each). Runs as its own command after the script
# succeeded, so a script that ends early with exit 0 is recorded too.
set -euo pipefail
umask 077
manifest="${MANIFESTS}/${STEP}"
mkdir -p "${manifest}"
stage=$(mktemp -d "${manifest}.XXXXXX")
trap 'rm -rf "${stage}"' EXIT
mapfile -t files < <(printf '%s\n' "${OWNED_FILES}" | sed '/^$/d')
for file in "${files[@]}"; do
    [ -f "${file}" ] || {
        echo "drift: ${file} is declared as owned by ${STEP} but is not on this node" >&2
        exit 1
    }
done
if ((${#files[@]})); then
    sha256sum -- "${files[@]}" >"${stage}/files.sha256"
else
    : >"${stage}/files.sha256"
fi
printf '%s\n' "${OWNED_SERVICES}" | sed '/^$/d' >"${stage}/services"
mv -f "${stage}/files.sha256" "${stage}/services" "${manifest}/"
echo "drift: recorded ${#files[@]} files and $(wc -l <"${manifest}/services") services of ${STEP}"
