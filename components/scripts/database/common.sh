# Helpers shared by the database scripts (prepended to each). The engine-specific names and SQL
# (PACKAGE, SERVICE, SERVER, CLIENT, REPLICA_STATUS, ...) arrive as parameters from Dialect.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
STATE_DIR=/var/lib/rainbond-ha/database

say() { echo "database[$(hostname)]: $*"; }
fail() {
    echo "database[$(hostname)]: $*" >&2
    exit 1
}

# The local server as root over its unix socket: no password anywhere.
sql() { "${CLIENT}" -N -B "$@"; }

# Pipes end in `grep ... >/dev/null`, never `grep -q`: under pipefail, grep -q leaving early
# kills a writer that is still writing (SIGPIPE) and fails the pipeline although it matched.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'ok installed' >/dev/null; }

server_up() { installed "${PACKAGE}" && systemctl is-active --quiet "${SERVICE}"; }

wait_server() {
    for _ in $(seq 1 60); do
        sql -e 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 1
    done
    journalctl -u "${SERVICE}" -n 20 --no-pager -o cat >&2 || true
    fail "${SERVICE} did not answer on its socket within 60 s"
}

# One field of `SHOW ... STATUS\G`-style output on stdin.
field() { sed -n "s/^ *$1: //p" | head -n 1; }

replica_status() { "${CLIENT}" -e "${REPLICA_STATUS}\\G"; }

# Installs a package unless present, noting what this step added so its delete removes only
# that. The service stays down until the caller has put its configuration in place.
install_package() {
    local package="$1" unit="$2"
    packages_recover
    if installed "${package}"; then
        [ -e "${STATE_DIR}/${package}.installed" ] || say "${package} was already installed; keeping it"
        return 0
    fi
    # Another install may be refreshing the package lists right now: look again after a moment.
    for attempt in 1 2 3 4; do
        apt-cache policy "${package}" 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null && break
        [ "${attempt}" -lt 4 ] || fail "no package ${package} in this node's apt sources" \
            "(see docs/database.md)"
        [ "${attempt}" -gt 1 ] || "${APT[@]}" update >/dev/null || true
        sleep 3
    done
    say "installing ${package}"
    mkdir -p "${STATE_DIR}"
    chmod 0700 "${STATE_DIR}"
    "${APT[@]}" install -s "${package}" | awk '/^Inst /{print $2}' >"${STATE_DIR}/${package}.installed"
    [ -z "${unit}" ] || systemctl mask --runtime "${unit}" >/dev/null
    "${APT[@]}" install "${package}" >/dev/null
    [ -z "${unit}" ] || systemctl unmask --runtime "${unit}" >/dev/null
}

# Purges a package this step installed, and the dependencies it brought that nothing else needs.
# Not apt's autoremove: it keeps whatever something merely recommends or suggests (perl, psmisc)
# and every provider of a virtual package in use (gawk, next to the image's mawk), for good.
remove_package() {
    local package="$1" added pkg
    local -a leftover=() removable=()
    [ -e "${STATE_DIR}/${package}.installed" ] || return 0
    say "removing ${package}"
    packages_recover
    "${APT[@]}" purge "${package}" >/dev/null
    added="$(sort -u "${STATE_DIR}/${package}.installed")"
    mapfile -t leftover < <(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' \
        | awk '$1 == "ii" {print $2}' | sort -u | comm -12 - <(echo "${added}"))
    # One by one: purging a package must take nothing along that this step did not add (another
    # step's package, or one installed since, may share a dependency with ours).
    for pkg in "${leftover[@]}"; do
        if "${APT[@]}" -s purge "${pkg}" | awk '/^Purg /{print $2}' | sort -u \
            | comm -23 - <(echo "${added}") | grep . >/dev/null; then
            say "keeping ${pkg}: other packages need it"
        else
            removable+=("${pkg}")
        fi
    done
    [ "${#removable[@]}" -eq 0 ] || "${APT[@]}" purge "${removable[@]}" >/dev/null
    rm -f "${STATE_DIR}/${package}.installed"
    rmdir "${STATE_DIR}" 2>/dev/null || true
}

# Another server of the pair, as the replication user: the login sits in a private 0600 file,
# never in argv. `remote_sql HOST QUERY` needs `replication_login PASSWORD` first.
replication_login() {
    CLIENT_DIR="$(umask 077 && mktemp -d)"
    trap 'rm -rf "${CLIENT_DIR}"' EXIT
    printf '[client]\nuser=replication\npassword=%s\nport=%s\nconnect-timeout=10\n' \
        "$1" "${PORT}" >"${CLIENT_DIR}/login.cnf"
}
remote_sql() {
    "${CLIENT}" --defaults-extra-file="${CLIENT_DIR}/login.cnf" -h "$1" -N -B -e "$2" \
        2>"${CLIENT_DIR}/error" || { cat "${CLIENT_DIR}/error" >&2 && return 1; }
}

