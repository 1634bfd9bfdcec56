# Makes this node the source: if it replicates from a former source, it first waits until it has
# applied everything that source wrote (the former source must already be read-only), then stops
# replicating and takes writes; then databases and users. Stdin: the replication password, then
# the setup SQL. Params: Dialect's, CONFIG_DIR, SOURCE_CONFIG_FILE, SOURCE_CONFIG, PORT,
# DATABASES, USER, CLIENT_HOSTS, REPLICA_HOSTS, STALE_ACCOUNTS_SQL, WAIT_SECONDS.
IFS= read -r REPLICATION_PASSWORD
SETUP_SQL="$(cat)"
[ -n "${REPLICATION_PASSWORD}" ] && [ -n "${SETUP_SQL}" ] \
    || fail "stdin must hold the replication password and the setup SQL"
server_up || fail "${SERVICE} is not running; the server step should have started it"
wait_server

former="$(replica_status | field "${SOURCE_HOST_FIELD}")"
if [ -n "${former}" ]; then
    say "promoting: this node replicates from ${former}; waiting until it has caught up"
    replication_login "${REPLICATION_PASSWORD}"
    if ! answer="$(remote_sql "${former}" "${SOURCE_POSITION}")"; then
        fail "cannot reach the former source ${former}, so cannot tell whether this node has all" \
            "its writes. If ${former} is lost, follow 'Unplanned loss of the source' in" \
            "docs/operations.md."
    fi
    read -r former_read_only position <<<"${answer}"
    [ "${former_read_only}" = 1 ] \
        || fail "the former source ${former} still takes writes; refusing to promote this node"
    sql -e "${START_REPLICA}" 2>/dev/null || true
    if [ -n "${position}" ]; then
        waited="$(sql -e "SELECT ${WAIT_FUNCTION}('${position}', ${WAIT_SECONDS})")"
        [ "${waited}" = 0 ] || fail "did not apply ${former}'s writes (${position}) within" \
            "${WAIT_SECONDS} s; the former source stays read-only, nothing was promoted"
    fi
    sql -e "${STOP_REPLICA}; ${RESET_REPLICA}"
    say "caught up with ${former} at ${position:-the start}; replication from it stopped"
fi

printf '%s' "${SOURCE_CONFIG}" >"${CONFIG_DIR}/${SOURCE_CONFIG_FILE}"
chmod 0644 "${CONFIG_DIR}/${SOURCE_CONFIG_FILE}"
sql -e "${READ_ONLY_OFF}"
say "source: takes writes"

printf '%s\n' "${SETUP_SQL}" | sql
sql -e "${STALE_ACCOUNTS_SQL}" | while IFS= read -r account; do
    say "dropping ${account}: its host is no longer allowed"
    sql -e "DROP USER ${account}"
done
say "source: databases ${DATABASES} (utf8mb4); ${USER} from ${CLIENT_HOSTS};" \
    "replication from ${REPLICA_HOSTS}"
