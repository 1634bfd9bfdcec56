# Placeholder: removes the registry trust and the goodrain.me entry.
set -euo pipefail
echo "would remove /etc/containerd/certs.d/${DOMAIN} and the goodrain.me line for ${VIP}"
