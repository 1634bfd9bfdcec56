# Prints the cluster's admin kubeconfig, pointed at the HA API address instead of localhost.
set -euo pipefail
sed "s#https://127.0.0.1:${API_PORT}#https://${API_ADDRESS}:${API_PORT}#" /etc/rancher/rke2/rke2.yaml
