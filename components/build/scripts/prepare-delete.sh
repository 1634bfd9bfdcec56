# Removes the rbd-chaos directories, and /opt/rainbond above them, only where they are empty:
# build caches and grdata hold users' data, so a directory with anything in it stays.
# Parameters: CACHE_DIR, DATA_DIR.
set -euo pipefail

for dir in "${CACHE_DIR}" "${DATA_DIR}" "$(dirname "${CACHE_DIR}")"; do
  if [ ! -d "${dir}" ]; then
    continue
  elif rmdir "${dir}" 2>/dev/null; then
    echo "build: removed ${dir}"
  else
    echo "build: kept ${dir}: not empty"
  fi
done
