# Checks, from this cluster node, that the external server answers for USER, is a version
# Rainbond supports with CHARSET and COLLATION, and holds DATABASES in CHARSET; with admin
# credentials it creates what is missing. Installs the client if needed.
# Stdin: USER's password, then the admin password (an empty line without admin credentials).
# Params: PACKAGE, HOST, PORT, USER, ADMIN_USER, DATABASES, CREATE_SQL, CHARSET, COLLATION,
# SUPPORTED (the versions Rainbond supports, as the error states them).
IFS= read -r PASSWORD
IFS= read -r ADMIN_PASSWORD || true
[ -n "${PASSWORD}" ] || fail "stdin must hold ${USER}'s password"
install_package "${PACKAGE}" ""
CLIENT_DIR="$(umask 077 && mktemp -d)"
trap 'rm -rf "${CLIENT_DIR}"' EXIT
login() { # name, user, password
    printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\nconnect-timeout=10\n' \
        "$2" "$3" "${HOST}" "${PORT}" >"${CLIENT_DIR}/$1.cnf"
}
as() { mariadb --defaults-extra-file="${CLIENT_DIR}/$1.cnf" -N -B -e "$2" 2>"${CLIENT_DIR}/error"; }
# Fills `missing` with the databases USER cannot see in CHARSET.
check() {
    local found name
    found="$(as user "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA")" \
        || { cat "${CLIENT_DIR}/error" >&2; fail "${USER} cannot log in to ${HOST}:${PORT}"; }
    missing=()
    for name in ${DATABASES}; do
        grep -qx "${name}	${CHARSET}" <<<"${found}" || missing+=("${name}")
    done
}
# Rainbond's HA documentation lists MySQL 5.7 and 8.0 (docs/ops-guides/configuration/ha.md);
# MariaDB 10.x and 11.x speak the same protocol and SQL for what Rainbond uses. MySQL 8.4 and
# later disable mysql_native_password, which Rainbond's console needs (vaules-config.md).
supported_version() {
    case "$1" in
        10.*-MariaDB* | 11.*-MariaDB*) return 0 ;;
        *MariaDB*) return 1 ;;
        5.7.* | 8.0.*) return 0 ;;
        *) return 1 ;;
    esac
}
login user "${USER}" "${PASSWORD}"
say "external: checking ${HOST}:${PORT} as ${USER}"
version="$(as user "SELECT VERSION()")" \
    || { cat "${CLIENT_DIR}/error" >&2; fail "${USER} cannot log in to ${HOST}:${PORT}"; }
supported_version "${version}" \
    || fail "${HOST}:${PORT} runs ${version}; Rainbond needs ${SUPPORTED}"
[ -n "$(as user "SHOW COLLATION WHERE Charset = '${CHARSET}' AND Collation = '${COLLATION}'")" ] \
    || fail "${HOST}:${PORT} (${version}) lacks the collation ${COLLATION} of ${CHARSET}; Rainbond" \
        "needs ${CHARSET}: use ${SUPPORTED}"
server_charset="$(as user "SELECT @@character_set_server")"
say "external: ${version}, character_set_server ${server_charset} (the databases use ${CHARSET})"
check
if [ "${#missing[@]}" -gt 0 ] && [ -n "${ADMIN_USER}" ]; then
    say "external: creating or converting ${missing[*]} as ${ADMIN_USER}"
    login admin "${ADMIN_USER}" "${ADMIN_PASSWORD}"
    as admin "${CREATE_SQL}" || { cat "${CLIENT_DIR}/error" >&2; fail "${ADMIN_USER} could not create them"; }
    check
fi
[ "${#missing[@]}" -eq 0 ] || fail "${HOST}:${PORT} lacks ${missing[*]} in ${CHARSET} (or ${USER}" \
    "cannot see them): create them with CHARACTER SET ${CHARSET}, grant ${USER} all on them," \
    "or set database.adminUser and database.adminPassword"
say "external: ${DATABASES} present in ${CHARSET}, ${USER} logs in"
