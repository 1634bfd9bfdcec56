# keepalived instance ${INSTANCE}: ${VIP_ADDRESS} on ${INTERFACE}, shared with the peers in its file.
# The VRRP password arrives on stdin and is written only into the 0600 instance file. Done when
# exactly one node answers for the VIP.
set -euo pipefail
umask 022

IFS= read -r auth_pass || true  # the last line may lack its newline
if ! [[ "${auth_pass}" =~ ^[A-Za-z0-9]{1,8}$ ]]; then
    echo "keepalived: expected the VRRP password (1-8 letters or digits) on stdin" >&2
    exit 1
fi

# Instances of other components may share this node and its keepalived: one step at a time.
exec 9>/run/lock/rainbond-ha-keepalived.lock
flock -w 600 9

if [ -s "${MAIN_PATH}" ] && [ "$(head -n 1 "${MAIN_PATH}")" != "${MANAGED_MARK}" ]; then
    echo "keepalived: ${MAIN_PATH} exists and was not written by rainbond-ha; this node's" \
        "keepalived serves someone else. Move that file away (or merge its instances) and run again." >&2
    exit 1
fi

mkdir -p "${STATE_DIR}"
if [ ! -e "${STATE_DIR}/enabled-before" ]; then
    # What destroy restores when keepalived was here before us.
    systemctl is-enabled keepalived 2>/dev/null >"${STATE_DIR}/enabled-before" || true
fi
packages_install keepalived ${PACKAGES}

mkdir -p "${CONFIG_DIR}"
chmod 0755 "${CONFIG_DIR}" "${STATE_DIR}"
stage=$(mktemp -d "$(dirname "${MAIN_PATH}")/.rainbond-ha-stage.XXXXXX")
trap 'rm -rf "${stage}"' EXIT

# keepalived -t needs the check script where the config names it, so it goes first; the old
# one comes back if the new configuration is refused.
changed=0
restore_check() { :; }
if [ -n "${CHECK_TEXT}" ] && ! printf '%s' "${CHECK_TEXT}" | cmp -s - "${CHECK_PATH}"; then
    if [ -e "${CHECK_PATH}" ]; then
        cp -p "${CHECK_PATH}" "${stage}/check.old"
        restore_check() { mv -f "${stage}/check.old" "${CHECK_PATH}"; }
    else
        restore_check() { rm -f "${CHECK_PATH}"; }
    fi
    printf '%s' "${CHECK_TEXT}" >"${stage}/check.new"
    chmod 0755 "${stage}/check.new"
    mv -f "${stage}/check.new" "${CHECK_PATH}"
    changed=1
fi

# The candidate: every other instance as it is, this one as rendered, under a main config that
# includes the stage instead of the live directory.
shopt -s nullglob
for other in "${CONFIG_DIR}"/*.conf; do
    [ "${other}" = "${INSTANCE_PATH}" ] || cp -p "${other}" "${stage}/"
done

# A node leaving the group keeps its keepalived until its own delete step, which the engine runs
# after every other step. Were this node to stop sending it adverts now, it would take the VIP
# as a second holder. So every peer the live file lists and the new one does not stays in the
# file, marked ${LEFT_MARK}: adverts reach it while its keepalived runs and go nowhere after.
peers_in() {
    awk '/unicast_peer [{]/ { inside = 1; next } inside && /[}]/ { inside = 0 } inside { print $1 }'
}
left=()
if [ -e "${INSTANCE_PATH}" ]; then
    peers=" $(printf '%s' "${INSTANCE_TEXT}" | peers_in | tr '\n' ' ') "
    while read -r peer; do
        [[ "${peers}" == *" ${peer} "* || "${peer}" == "${SOURCE_ADDRESS}" ]] || left+=("${peer}")
    done < <(peers_in <"${INSTANCE_PATH}")
fi
((${#left[@]} == 0)) || echo "config: still sending adverts to ${left[*]}, which left the group"
with_left() {
    awk -v left="${left[*]}" -v mark="${LEFT_MARK}" '
        /unicast_peer [{]/ { inside = 1 }
        inside && /[}]/ {
            n = split(left, peer, " ")
            for (i = 1; i <= n; i++) printf "        %s  %s\n", peer[i], mark
            inside = 0
        }
        { print }'
}
candidate="${stage}/$(basename "${INSTANCE_PATH}")"
(
    umask 077
    printf '%s' "${INSTANCE_TEXT//"${AUTH_PLACEHOLDER}"/"${auth_pass}"}" | with_left >"${candidate}"
)
printf '%s' "${MAIN_TEXT//"${CONFIG_DIR}"/"${stage}"}" >"${stage}/main.cfg"
if ! errors=$(keepalived -t -f "${stage}/main.cfg" 2>&1); then
    restore_check
    echo "keepalived: the new configuration is refused; the current one stays:" >&2
    echo "${errors}" >&2
    exit 1
fi
echo "config: keepalived -t accepts instance ${INSTANCE}"

if ! cmp -s "${candidate}" "${INSTANCE_PATH}"; then
    mv -f "${candidate}" "${INSTANCE_PATH}"
    changed=1
fi
if ! printf '%s' "${MAIN_TEXT}" | cmp -s - "${MAIN_PATH}"; then
    printf '%s' "${MAIN_TEXT}" >"${stage}/main.new"
    mv -f "${stage}/main.new" "${MAIN_PATH}"
    changed=1
fi
echo "config: ${INSTANCE_PATH} ($([ "${changed}" = 1 ] && echo written || echo unchanged))"

systemctl enable --quiet keepalived
if ! systemctl is-active --quiet keepalived; then
    echo "service: starting keepalived"
    systemctl start keepalived
elif [ "${changed}" = 1 ]; then
    # A reload keeps the state of the other instances on this node (and their VIPs).
    echo "service: reloading keepalived"
    systemctl reload keepalived
else
    echo "service: keepalived running"
fi

# Done when exactly one node answers for the VIP: this one (the address is here) plus every
# other MAC that answers an ARP request for it, twice in a row a second apart.
holders() {
    local here=0 others
    if ip -4 -o addr show dev "${INTERFACE}" | grep " ${VIP_ADDRESS}/" >/dev/null; then
        here=1
    fi
    others=$(arping -c 2 -w 2 -I "${INTERFACE}" -s "${SOURCE_ADDRESS}" "${VIP_ADDRESS}" 2>/dev/null |
        grep -o '\[[0-9A-Fa-f:]*\]' | sort -u | wc -l || true)
    echo $((here + others))
}
deadline=$((SECONDS + WAIT_SECONDS))
settled=0
while ((settled < 2)); do
    count=$(holders)
    if [ "${count}" = 1 ]; then
        settled=$((settled + 1))
    else
        settled=0
    fi
    if ((settled < 2)); then
        if ((SECONDS >= deadline)); then
            echo "vip: ${count} nodes answer for ${VIP_ADDRESS} after ${WAIT_SECONDS} s; expected 1" >&2
            journalctl -u keepalived -n 20 --no-pager -o cat >&2 || true
            exit 1
        fi
        sleep 1
    fi
done
if ip -4 -o addr show dev "${INTERFACE}" | grep " ${VIP_ADDRESS}/" >/dev/null; then
    echo "vip: ${VIP_ADDRESS} is held here, by this node only"
else
    echo "vip: ${VIP_ADDRESS} is held by one peer"
fi
