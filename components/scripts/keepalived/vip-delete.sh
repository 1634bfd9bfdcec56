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

if [ -s "${STATE_DIR}/installed-packages" ]; then
    packages_recover
    ours=$(sort -u "${STATE_DIR}/installed-packages")
    purged() { apt-get -s purge "$@" 2>/dev/null | awk '/^Purg /{ print $2 }' | sort -u; }
    explicit=$(comm -12 <(echo "${ours}") <(tr ' ' '\n' <<<"${PACKAGES}" | sort -u))
    # What the step installed and nothing else needs once keepalived is gone.
    remove=$(comm -12 <(echo "${ours}") <(purged --auto-remove ${explicit}))
    others=$(comm -23 <(purged ${remove}) <(echo "${ours}"))
    if [ -n "${others}" ]; then
        echo "packages: keeping ${remove//$'\n'/ }: installed since, $(echo ${others}) need them" >&2
    elif [ -n "${remove}" ]; then
        echo "packages: removing ${remove//$'\n'/ }"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q purge ${remove} \
            >/tmp/rainbond-ha-keepalived-apt.log 2>&1 || {
            cat /tmp/rainbond-ha-keepalived-apt.log >&2
            exit 1
        }
        rm -f /tmp/rainbond-ha-keepalived-apt.log
    fi
fi
if systemctl cat keepalived >/dev/null 2>&1 &&
    [ "$(cat "${STATE_DIR}/enabled-before" 2>/dev/null)" = enabled ]; then
    echo "service: keepalived was enabled before rainbond-ha; enabling it again"
    systemctl enable --quiet keepalived
fi
rm -rf "${STATE_DIR}"
rmdir "$(dirname "${STATE_DIR}")" 2>/dev/null || true
echo "keepalived: removed from this node"
