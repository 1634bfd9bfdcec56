# Removes the registry service and what the server step installed. Images stay unless
# DELETE_DATA=true, and only where this program installed the package.
# Params: as server.sh, plus DELETE_DATA, DATA_DIR.
set -euo pipefail
UNIT=docker-registry.service
HTTP_UNIT_FILE="/etc/systemd/system/${HTTP_SERVICE}.service"
if [ -e "${HTTP_UNIT_FILE}" ]; then
    systemctl disable --now "${HTTP_SERVICE}.service" >/dev/null 2>&1 || true
    rm -f "${HTTP_UNIT_FILE}"
    systemctl daemon-reload
fi
rm -f "${CONFIG_DIR}/${HTTP_CONFIG_FILE}"
if packages_brought registry docker-registry; then
    # Disabled while its unit file exists: the purge alone can leave the enablement link behind.
    systemctl disable --now "${UNIT}" >/dev/null 2>&1 || true
    packages_remove registry
    systemctl unmask --runtime "${UNIT}" >/dev/null 2>&1 || true
    rm -f "${CONFIG_DIR}/htpasswd"
    if [ "${DELETE_DATA}" = true ]; then
        echo "registry: deleting the images in ${DATA_DIR}"
        rm -rf "${DATA_DIR}"
        userdel docker-registry 2>/dev/null || true
        groupdel docker-registry 2>/dev/null || true
    else
        echo "registry: images kept in ${DATA_DIR}"
    fi
elif [ -e "${STATE_DIR}/config.yml.orig" ]; then
    echo "registry: restoring the docker-registry configuration found before"
    cp -p "${STATE_DIR}/config.yml.orig" "${CONFIG_DIR}/config.yml"
    rm -f "${CONFIG_DIR}/htpasswd"
    if [ "$(cat "${STATE_DIR}/enabled.orig" 2>/dev/null)" = enabled ]; then
        systemctl restart "${UNIT}" || true
    else
        systemctl disable --now "${UNIT}" >/dev/null 2>&1 || true
    fi
fi
rm -rf "${STATE_DIR}"
rmdir --ignore-fail-on-non-empty "$(dirname "${STATE_DIR}")" 2>/dev/null || true
# The TLS step's delete empties these when it runs last (destroy); when it ran first (the role
# moved to another node), this one does.
for dir in "${CONFIG_DIR}" "$(dirname "${CONFIG_DIR}")"; do
    rmdir --ignore-fail-on-non-empty "${dir}" 2>/dev/null || true
done
echo "registry: server removed"
