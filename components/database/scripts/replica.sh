# Makes this node replicate from SOURCE_HOST by GTID, and reports done only when both replication
# threads run. Data from another deployment than the source's is refused, fast and by name, and
# left as it is. Stdin: the replication password, then the replication SQL. Params: Dialect's,
# CONFIG_DIR, SOURCE_CONFIG_FILE, SOURCE_HOST, PORT, WAIT_SECONDS, NODE_NAME, DATA_DIR,
# HISTORY_QUERY.
IFS= read -r REPLICATION_PASSWORD
REPLICATION_SQL="$(cat)"
[ -n "${REPLICATION_PASSWORD}" ] && [ -n "${REPLICATION_SQL}" ] \
    || fail "stdin must hold the replication password and SQL"
server_up || fail "${SERVICE} is not running; the server step should have started it"
wait_server
# A node still configured as the source has not been through its demotion: two writable
# servers would diverge.
[ ! -e "${CONFIG_DIR}/${SOURCE_CONFIG_FILE}" ] \
    || fail "this node is still the source (${CONFIG_DIR}/${SOURCE_CONFIG_FILE}); refusing"
sql -e "${READ_ONLY_ON}"

# Replication settings go too: the node never followed this source, and a later promotion of it
# must not wait for that source's writes.
foreign() {
    sql -e "${STOP_REPLICA}; ${RESET_REPLICA}" >/dev/null 2>&1 || true
    fail "${NODE_NAME}: the data in ${DATA_DIR} is not from the deployment of the source" \
        "${SOURCE_HOST} ($*). It is left as it is, read-only, and does not replicate. Keep the" \
        "node whose data you want as the source; for the other, follow 'A replica with data" \
        "from another deployment' in docs/operations.md. (Destroy keeps the data unless" \
        "database.deleteDataOnDestroy is true.)"
}

replication_login "${REPLICATION_PASSWORD}"
answer="$(remote_sql "${SOURCE_HOST}" "${HISTORY_QUERY}; ${SOURCE_POSITION}")" \
    || fail "cannot read the source ${SOURCE_HOST}'s history id with the replication login"
{ read -r theirs && read -r _ source_position; } <<<"${answer}" || true
[ -n "${theirs}" ] || fail "the source ${SOURCE_HOST} has no history id; its step writes one"
ours="$(sql -e "${HISTORY_QUERY}" 2>/dev/null || true)"
read -r _ held <<<"$(sql -e "${SOURCE_POSITION}")"
if [ -n "${ours}" ] && [ "${ours}" != "${theirs}" ]; then
    foreign "history ${ours}; the source's is ${theirs}"
fi
# Data without a history id predates it: it proves itself by replicating the source's id.
unproven=false
[ -z "${ours}" ] && [ -n "${held}" ] && unproven=true

say "replica: following ${SOURCE_HOST}:${PORT} by GTID"
printf '%s\n' "${REPLICATION_SQL}" | sql
deadline=$((SECONDS + WAIT_SECONDS))
while [ "${SECONDS}" -lt "${deadline}" ]; do
    status="$(replica_status)"
    io="$(field "${IO_RUNNING_FIELD}" <<<"${status}")"
    applier="$(field "${SQL_RUNNING_FIELD}" <<<"${status}")"
    # 1236: the source's binary log lacks the position this node asks for. It is final.
    if [ "$(field Last_IO_Errno <<<"${status}")" = 1236 ]; then
        foreign "the source's binary log does not have what it holds: $(field Last_IO_Error \
            <<<"${status}")"
    fi
    if [ "${applier}" = No ] && [ "$(field Last_SQL_Errno <<<"${status}")" != 0 ]; then
        foreign "applying the source's changes failed: $(field Last_SQL_Error <<<"${status}")"
    fi
    if [ "${io}" = Yes ] && [ "${applier}" = Yes ]; then
        break
    fi
    sleep 1
done
if [ "${io}" != Yes ] || [ "${applier}" != Yes ]; then
    fail "replication from ${SOURCE_HOST} is not running after ${WAIT_SECONDS} s" \
        "(IO: ${io:-none}, SQL: ${applier:-none}). Last_IO_Error: $(field Last_IO_Error \
        <<<"${status}"). Last_SQL_Error: $(field Last_SQL_Error <<<"${status}")"
fi
if [ "${unproven}" = true ]; then
    say "replica: data without a history id; waiting until the source's (${theirs}) arrives"
    left=$((deadline - SECONDS > 1 ? deadline - SECONDS : 1))
    sql -e "SELECT ${WAIT_FUNCTION}('${source_position}', ${left})" >/dev/null
    ours="$(sql -e "${HISTORY_QUERY}" 2>/dev/null || true)"
    [ "${ours}" = "${theirs}" ] || foreign "history '${ours}' after replicating; the source's is ${theirs}"
fi
say "replica: IO and SQL threads running"
