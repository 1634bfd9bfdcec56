# Checks from this node that the external registry ${DOMAIN} answers /v2/ and accepts the
# credentials. Changes nothing. Params: DOMAIN, USERNAME, INSECURE. Stdin: the password.
set -euo pipefail
IFS= read -r PASSWORD
[ -n "${PASSWORD}" ] || { echo "check: the password is expected on stdin" >&2; exit 1; }
schemes=(https)
extra=()
if [ "${INSECURE}" = true ]; then
    schemes=(https http)
    extra=(--insecure)
fi
for scheme in "${schemes[@]}"; do
    url="${scheme}://${DOMAIN}/v2/"
    rc=0
    code="$(printf 'user = "%s:%s"\n' "${USERNAME}" "${PASSWORD}" | curl -K - -sS -o /dev/null \
        -w '%{http_code}' --max-time 10 "${extra[@]}" "${url}" 2>/tmp/registry-check.$$)" || rc=$?
    error="$(cat /tmp/registry-check.$$)"
    rm -f /tmp/registry-check.$$
    case "${rc}:${code}" in
        0:200) echo "check: ${url} accepts ${USERNAME}"; exit 0 ;;
        0:401 | 0:403)
            echo "check: ${url} refused the credentials of ${USERNAME} (HTTP ${code});" \
                "fix registry.username and registry.password" >&2
            exit 1 ;;
        0:*) echo "check: ${url} answered HTTP ${code}, not a registry's /v2/" >&2; exit 1 ;;
        *) echo "check: ${url} is not reachable from $(hostname): ${error}" >&2 ;;
    esac
done
echo "check: registry.domain ${DOMAIN} is not reachable from $(hostname); fix the address, its" \
    "DNS or the firewall$([ "${INSECURE}" = true ] || echo ", or set registry.insecure if it has no trusted certificate")" >&2
exit 1
