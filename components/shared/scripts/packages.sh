# The node's package ledger: which packages each owner (a step's component) brought to this node,
# so that removing an owner purges what it brought, whatever order owners go in. Prepended, after
# packages-recover.sh, to every script that calls packages_* (components/remote.py).
#
# ${PACKAGES_LEDGER}/<owner> lists what the owner's installs added, dependencies included. It is
# written before apt starts: a run killed halfway finds its packages installed next time, and the
# removal still purges them. A package that another recorded owner's packages depend on is not
# purged but handed to that owner (the first install of a shared dependency records it for one
# owner only); one that only packages outside the ledger need goes to the "kept" list, which
# every removal retries. What was installed before any owner is in no record and never removed.
# Installs and removals hold one lock per node, so no record misses what another install adds.

: "${PACKAGES_LEDGER:=/var/lib/rainbond-ha/packages}"
: "${PACKAGES_LOCK:=/run/lock/rainbond-ha-packages.lock}"

# The ledger's lock goes on fd 8; apt and what it starts must not hold it after we are done.
packages_apt() {
    LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q "$@" 8>&-
}

packages_lock() {
    [[ "$1" =~ ^[a-z0-9][a-z0-9-]*$ ]] && [ "$1" != kept ] || {
        echo "packages: '$1' is not an owner name" >&2
        exit 1
    }
    mkdir -p "${PACKAGES_LEDGER}"
    exec 8>"${PACKAGES_LOCK}"
    flock -w 900 8 || {
        echo "packages: another step held the package ledger for 900 s" >&2
        exit 1
    }
    packages_recover
    PACKAGES_WORK=$(mktemp -d)
    trap 'rm -rf "${PACKAGES_WORK}"' EXIT
}

# Names of the packages whose dpkg state (db:Status-Abbrev) matches the regex $1, sorted.
packages_in_state() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk -v state="$1" '$1 ~ state { print $2 }' |
        sort -u
}

# Replaces the record $1 with the sorted, distinct lines on stdin, or deletes it when none.
packages_record() {
    sort -u | sed '/^$/d' >"$1.new"
    if [ -s "$1.new" ]; then mv -f "$1.new" "$1"; else rm -f "$1.new" "$1"; fi
}

packages_failed() {
    echo "packages: apt-get failed:" >&2
    tail -n 30 "$1" >&2
    exit 1
}

# packages_brought OWNER PACKAGE: whether OWNER's record holds PACKAGE.
packages_brought() {
    [ -e "${PACKAGES_LEDGER}/$1" ] && grep -Fx -- "$2" "${PACKAGES_LEDGER}/$1" >/dev/null
}

# packages_install OWNER PACKAGE...: installs the packages that are missing, without recommends.
packages_install() (
    owner=$1
    shift
    packages_lock "${owner}"
    mapfile -t missing < <(comm -13 <(packages_in_state '^ii') <(printf '%s\n' "$@" | sort -u))
    if ((${#missing[@]} == 0)); then
        echo "packages: $* already installed"
        exit 0
    fi
    log="${PACKAGES_WORK}/apt.log"
    if ! packages_apt install -s --no-install-recommends "${missing[@]}" >"${log}" 2>&1; then
        echo "packages: refreshing the package lists"
        packages_apt update >"${log}" 2>&1 || packages_failed "${log}"
        packages_apt install -s --no-install-recommends "${missing[@]}" >"${log}" 2>&1 ||
            packages_failed "${log}"
    fi
    # "Inst NAME [OLD] (NEW ...)" upgrades a package that was there: not the owner's to remove.
    mapfile -t adds < <(awk '/^Inst / && $3 !~ /^\[/ { print $2 }' "${log}")
    { cat "${PACKAGES_LEDGER}/${owner}" 2>/dev/null || true; } | cat - <(printf '%s\n' "${adds[@]}") |
        packages_record "${PACKAGES_LEDGER}/${owner}"
    echo "packages: installing ${missing[*]} for ${owner} (${#adds[@]} packages with dependencies)"
    packages_apt install --no-install-recommends "${missing[@]}" >"${log}" 2>&1 ||
        packages_failed "${log}"
)

# packages_remove OWNER: purges what OWNER brought (and what the kept list holds) unless other
# packages need it, then forgets OWNER.
packages_remove() (
    owner=$1
    [ -e "${PACKAGES_LEDGER}/${owner}" ] || [ -e "${PACKAGES_LEDGER}/kept" ] || exit 0
    packages_lock "${owner}"
    work=${PACKAGES_WORK}
    cd "${PACKAGES_LEDGER}"
    shopt -s nullglob
    others=()
    for record in *; do
        [[ "${record}" =~ ^(${owner}|kept|.*\.new)$ ]] || others+=("${record}")
    done
    # Candidates: present, and in no other owner's record (that owner brought it too).
    packages_in_state '^.[^n]' >"${work}/present"
    cat "${others[@]}" </dev/null | sort -u >"${work}/others"
    { cat "${owner}" kept 2>/dev/null || true; } | sort -u | comm -12 - "${work}/present" |
        comm -23 - "${work}/others" >"${work}/mine"
    # What purging the arguments would take along besides candidates, into ${work}/needs.
    purged() {
        packages_apt -s purge "$@" 2>"${work}/apt.log" | awk '/^Purg / { print $2 }' | sort -u |
            comm -23 - "${work}/mine" >"${work}/needs" || packages_failed "${work}/apt.log"
    }
    : >"${work}/remove"
    : >"${work}/kept"
    : >"${work}/needs"
    mapfile -t mine <"${work}/mine"
    ((${#mine[@]} == 0)) || purged "${mine[@]}"
    if [ -s "${work}/needs" ]; then
        # Purging all of them would take other packages along: find the ones that would.
        for package in "${mine[@]}"; do
            purged "${package}"
            mapfile -t needs <"${work}/needs"
            if ((${#needs[@]} == 0)); then
                echo "${package}" >>"${work}/remove"
                continue
            fi
            heirs=()
            for record in "${others[@]}"; do
                if printf '%s\n' "${needs[@]}" | comm -12 - "${record}" | grep . >/dev/null; then
                    heirs+=("${record}")
                    echo "${package}" | cat - "${record}" | packages_record "${record}"
                fi
            done
            if ((${#heirs[@]})); then
                echo "packages: keeping ${package} for ${heirs[*]}: ${needs[*]} need it"
            else
                echo "${package}" >>"${work}/kept"
                echo "packages: keeping ${package}: ${needs[*]} need it (later removals retry)"
            fi
        done
    else
        cp "${work}/mine" "${work}/remove"
    fi
    mapfile -t remove <"${work}/remove"
    if ((${#remove[@]})); then
        echo "packages: removing ${remove[*]} (brought for ${owner})"
        packages_apt purge "${remove[@]}" >"${work}/apt.log" 2>&1 || packages_failed "${work}/apt.log"
    fi
    packages_record kept <"${work}/kept"
    rm -f "${owner}"
    cd /
    rmdir "${PACKAGES_LEDGER}" 2>/dev/null || true
)
