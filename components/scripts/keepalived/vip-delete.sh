# Placeholder: removes keepalived instance ${INSTANCE}.
set -euo pipefail
echo "would remove /etc/keepalived/conf.d/${INSTANCE}.conf and reload keepalived (VIP ${VIP})"
