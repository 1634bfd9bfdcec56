# Helpers shared by the database scripts (prepended to each). The engine-specific names and SQL
# (PACKAGE, SERVICE, SERVER, CLIENT, REPLICA_STATUS, ...) arrive as parameters from Dialect.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

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

# Installs a package unless present; the package ledger (packages.sh) records what that adds, so
# the step's delete removes only that. The service stays down until the caller has put its
# configuration in place.
install_package() {
    local package="$1" unit="$2"
    if installed "${package}"; then
        packages_brought "database-${package}" "${package}" ||
            say "${package} was already installed; keeping it"
        return 0
    fi
    [ -z "${unit}" ] || systemctl mask --runtime "${unit}" >/dev/null 2>&1
    packages_install "database-${package}" "${package}"
    [ -z "${unit}" ] || systemctl unmask --runtime "${unit}" >/dev/null 2>&1
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

