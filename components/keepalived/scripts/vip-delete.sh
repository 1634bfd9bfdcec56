# Removes keepalived instance ${INSTANCE} (${VIP_ADDRESS}). With no instance left, keepalived goes
# back to how the first step found it: removed if a step installed it, else stopped with its
# original enabled state, and without the files rainbond-ha wrote.
set -euo pipefail

exec 9>/run/lock/rainbond-ha-keepalived.lock
flock -w 600 9

rm -f "${INSTANCE_PATH}" "${CHECK_PATH}" "${ARMED_PATH}"
echo "config: removed instance ${INSTANCE}"

shopt -s nullglob
remaining=("${CONFIG_DIR}"/*.conf)
if ((${#remaining[@]})); then
    echo "service: ${#remaining[@]} other instance(s) stay; reloading keepalived"
    ! systemctl is-active --quiet keepalived || systemctl reload keepalived
    exit 0
fi

if systemctl cat keepalived >/dev/null 2>&1; then
    echo "service: stopping keepalived"
    systemctl disable --now --quiet keepalived
fi
if [ -e "${MAIN_PATH}" ] && [ "$(head -n 1 "${MAIN_PATH}")" = "${MANAGED_MARK}" ]; then
    rm -f "${MAIN_PATH}"
fi
rmdir "${CONFIG_DIR}" 2>/dev/null || true

packages_remove keepalived
if systemctl cat keepalived >/dev/null 2>&1 &&
    [ "$(cat "${STATE_DIR}/enabled-before" 2>/dev/null)" = enabled ]; then
    echo "service: keepalived was enabled before rainbond-ha; enabling it again"
    systemctl enable --quiet keepalived
fi
rm -rf "${STATE_DIR}"
rmdir "$(dirname "${STATE_DIR}")" 2>/dev/null || true
echo "keepalived: removed from this node"
