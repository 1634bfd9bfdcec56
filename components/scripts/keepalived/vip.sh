# Placeholder: keepalived instance ${INSTANCE} holding ${VIP}; the VRRP password arrives on stdin.
set -euo pipefail
IFS= read -r AUTH_PASS
[ -n "${AUTH_PASS}" ]
echo "would install keepalived and write /etc/keepalived/conf.d/${INSTANCE}.conf:"
echo "  vip ${VIP} on ${INTERFACE}, router id ${ROUTER_ID}, priority ${PRIORITY}"
echo "  unicast from ${SOURCE_ADDRESS} to ${PEERS}, state BACKUP, nopreempt"
