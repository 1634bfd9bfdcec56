# Checks, from this cluster node, that the external server answers for USER and holds DATABASES
# in utf8mb4; with admin credentials it creates what is missing. Installs the client if needed.
# Stdin: USER's password, then the admin password (an empty line without admin credentials).
# Params: PACKAGE, HOST, PORT, USER, ADMIN_USER, DATABASES, CREATE_SQL, CHARSET.
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
login user "${USER}" "${PASSWORD}"
say "external: checking ${HOST}:${PORT} as ${USER}"
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
