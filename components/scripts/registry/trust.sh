# Placeholder: containerd trusts ${DOMAIN}; goodrain.me resolves to the VIP ${VIP}.
set -euo pipefail
IFS= read -r PASSWORD
[ -n "${PASSWORD}" ]
echo "would write /etc/containerd/certs.d/${DOMAIN}/hosts.toml (insecure=${INSECURE}, user ${USERNAME})"
echo "would map goodrain.me to ${VIP} in /etc/hosts"
