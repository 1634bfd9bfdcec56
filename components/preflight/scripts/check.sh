# Facts about the node for the preflight checks, one "name<TAB>value" line each on stdout.
# Read-only: nothing on the node changes. The program compares the facts across nodes and with
# what the configuration needs; this script only gathers them.
# Parameters: NODE_NAME, DISK_PATHS (directories whose free space counts), PORTS (TCP ports whose
# listeners to report).
set -euo pipefail
export LC_ALL=C

# One fact: its name, then its fields, separated by tabs.
fact() {
  local IFS=$'\t'
  printf '%s\n' "$*"
}
say() { echo "preflight ${NODE_NAME}: $*" >&2; }

say "gathering facts as $(id -un)"
fact user "$(id -un)"
# Root-only facts (listener processes, firewall rules) need root or passwordless sudo.
if [ "$(id -u)" -eq 0 ]; then
  run() { "$@"; }
  fact sudo root
elif sudo -n true 2>/dev/null; then
  run() { sudo -n "$@"; }
  fact sudo yes
else
  run() { "$@"; }
  fact sudo no
fi

fact hostname "$(cat /proc/sys/kernel/hostname)"
fact machine_id "$(cat /etc/machine-id 2>/dev/null || true)"
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  os_id=$(. /etc/os-release && echo "${ID:-}")
  fact os_id "${os_id}"
  fact os_id_like "$(. /etc/os-release && echo "${ID_LIKE:-}")"
  fact os_version_id "$(. /etc/os-release && echo "${VERSION_ID:-}")"
  fact os_name "$(. /etc/os-release && echo "${PRETTY_NAME:-}")"
fi
fact arch "$(uname -m)"
fact kernel "$(uname -r)"
fact mem_kib "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
fact swap_kib "$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo)"

# Free space where a directory will be: the nearest directory that exists holds it until then.
for path in ${DISK_PATHS}; do
  existing=${path}
  while [ ! -d "${existing}" ]; do existing=$(dirname "${existing}"); done
  avail=$(df -Pk "${existing}" | awk 'NR == 2 {print $4}')
  fact disk "${path}" "${existing}" "${avail}"
done

if [ -n "${PORTS}" ] && ! command -v ss >/dev/null 2>&1; then
  fact listeners unknown
elif [ -n "${PORTS}" ]; then
  say "listeners on ${PORTS}"
  filter=""
  for port in ${PORTS}; do filter="${filter:+${filter} or }sport = :${port}"; done
  run ss -Hltnp "( ${filter} )" | while IFS= read -r line; do fact listener "${line}"; done
fi

# Firewall rules that may stop VRRP (IP protocol 112): explicit VRRP rules and input policies.
found_tool=no
if command -v nft >/dev/null 2>&1; then
  found_tool=yes
  run nft list ruleset 2>/dev/null | grep -E 'vrrp|(protocol|l4proto) 112\b|hook input' \
    | while IFS= read -r line; do fact firewall nft "${line}"; done || true
fi
if command -v iptables-save >/dev/null 2>&1; then
  found_tool=yes
  run iptables-save 2>/dev/null | grep -E '^:INPUT |vrrp|-p 112\b' \
    | while IFS= read -r line; do fact firewall iptables "${line}"; done || true
fi
fact firewall_tools "${found_tool}"

# Last, so the time is as close as possible to the moment the program reads it.
fact epoch "$(date +%s)"
say "done"
