# packages_recover: finishes what an interrupted package install left half done. Prepended to
# every script that calls it (components/remote.py), which it does before it installs or removes.
#
# A step killed in the middle of dpkg (its node powered off, its run killed) leaves dpkg's
# journal and packages unpacked but not configured; apt then refuses everything with "dpkg was
# interrupted, you must manually run 'dpkg --configure -a'". Doing that here spares the operator
# the hand cleanup. Another step installing on this node at the same time looks alike while it
# runs, but holds dpkg's lock: then this waits for it (up to the 300 s apt waits for the lock).

packages_interrupted() {
    compgen -G '/var/lib/dpkg/updates/[0-9]*' >/dev/null || [ -n "$(dpkg --audit 2>/dev/null)" ]
}

packages_recover() {
    local deadline=$((SECONDS + 300)) out
    while packages_interrupted; do
        if out=$(LC_ALL=C DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold \
            --configure -a 2>&1); then
            echo "packages: finished an interrupted install (dpkg --configure -a)"
            packages_interrupted || return 0
        elif [[ "${out}" == *"lock"* ]] && ((SECONDS < deadline)); then
            sleep 2
            continue
        fi
        # A package killed while being unpacked is one dpkg will not configure ("reinstall it
        # before attempting configuration"), and --configure -a fails on it after configuring
        # the rest; apt unpacks it again.
        if out=$(LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
            -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            install --fix-broken 2>&1) && ! packages_interrupted; then
            echo "packages: finished an interrupted install, unpacking again what was half" \
                "unpacked (apt-get install --fix-broken)"
            return 0
        fi
        echo "packages: dpkg was interrupted and finishing its work failed:" >&2
        printf '%s\n' "${out}" | tail -n 20 >&2
        return 1
    done
}
