# Helpers of the Kubernetes node scripts (prepended to each of them, components/shared/remote.py).
# A script defines log() and sets unit (the service whose journal a failed wait shows).

# wait_for WHAT SECONDS COMMAND...: retries COMMAND every 5 s, fails after SECONDS.
wait_for() {
  local what=$1 limit=$2 waited=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "${waited}" -ge "${limit}" ]; then
      log "FAILED: ${what} not ready after ${limit}s"
      journalctl -u "${unit}" -n 30 --no-pager 2>/dev/null || true
      exit 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
  log "${what} ready after ${waited}s"
}

# write FILE MODE TEXT: replaces FILE with TEXT (and a newline) unless it holds that already;
# succeeds when it changed the file.
write() {
  if printf '%s\n' "$3" | cmp -s - "$1"; then
    return 1
  fi
  install -d "$(dirname "$1")"
  install -m "$2" /dev/null "$1.new"
  printf '%s\n' "$3" >"$1.new"
  mv -f "$1.new" "$1"
}

# nobody_serves: succeeds when the script's anyone_serves has failed for 30 s: nothing answers
# anywhere, so this is the stack's first deployment.
nobody_serves() {
  local attempt
  for attempt in 1 2 3 4 5 6; do
    anyone_serves && return 1
    [ "${attempt}" -lt 6 ] && sleep 5
  done
  return 0
}

# drain_node NODE: evicts every pod on NODE but the DaemonSets' (kubectl drain cordons it first),
# waiting 300 s at most; fails when some are still there (kube() is the script's admin kubectl).
drain_node() { kube drain "$1" --ignore-daemonsets --delete-emptydir-data --force --timeout=300s; }

# The annotation a worker drained for an upgrade carries: the version it was drained for.
DRAINED_MARK=rainbond-ha/drained-for-upgrade

# uncordon_upgraded: uncordons each node drained for an upgrade that is Ready again with the
# kubelet it was drained for (kube() is the script's admin kubectl).
uncordon_upgraded() {
  local listed node wanted running ready
  listed=$(kube get nodes -o jsonpath='{range .items[*]}{.metadata.name}|{.metadata.annotations.rainbond-ha/drained-for-upgrade}|{.status.nodeInfo.kubeletVersion}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}') ||
    return 0
  while IFS='|' read -r node wanted running ready; do
    [ -n "${wanted}" ] && [ "${wanted}" = "${running}" ] && [ "${ready}" = True ] || continue
    kube uncordon "${node}" >/dev/null
    kube annotate node "${node}" "${DRAINED_MARK}-" >/dev/null
    echo "uncordoned ${node}: it runs ${running} after its upgrade"
  done <<<"${listed}"
}
