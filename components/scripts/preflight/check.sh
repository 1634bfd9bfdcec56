# Facts about the node, then the checks a deployment needs. Read-only.
set -euo pipefail
echo "node=${NODE_NAME} hostname=$(hostname) kernel=$(uname -r) cpus=$(nproc)"
echo "would check: memory >= ${MIN_MEMORY_MIB} MiB, free disk >= ${MIN_DISK_GIB} GiB"
if [ -n "${FREE_PORTS}" ]; then
  echo "would check: ports ${FREE_PORTS} are free"
fi
