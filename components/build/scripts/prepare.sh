# The directories rbd-chaos mounts from the host (/cache and /grdata), and whether they sit on a
# spinning disk: builds read and write many small files there, and the docs recommend SSDs.
# Parameters: CACHE_DIR, DATA_DIR. Prints "rotational<TAB>dir<TAB>1|0|unknown" per directory.
set -euo pipefail

# The block device's queue/rotational for the filesystem holding $1; empty when there is none
# (overlay, tmpfs, network filesystems) or /sys does not show it.
rotational() {
  local dev major minor sys
  dev=$(stat -c %d "$1")
  major=$(((dev >> 8 & 0xfff) | (dev >> 32 & ~0xfff)))
  minor=$(((dev & 0xff) | (dev >> 12 & ~0xff)))
  sys=$(readlink -f "/sys/dev/block/${major}:${minor}" 2>/dev/null) || return 0
  # A partition has no queue of its own; its disk is the parent directory.
  for queue in "${sys}/queue/rotational" "${sys}/../queue/rotational"; do
    if [ -r "${queue}" ]; then
      cat "${queue}"
      return 0
    fi
  done
}

for dir in "${CACHE_DIR}" "${DATA_DIR}"; do
  if [ -d "${dir}" ]; then
    echo "build: ${dir} already exists" >&2
  else
    mkdir -p "${dir}"
    echo "build: created ${dir}" >&2
  fi
  printf 'rotational\t%s\t%s\n' "${dir}" "$(rotational "${dir}" || true)"
done
