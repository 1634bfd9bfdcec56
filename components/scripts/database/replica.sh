# Makes this node replicate from SOURCE_HOST by GTID, and reports done only when both replication
# threads run. Stdin: the replication SQL (it holds the password). Params: Dialect's, CONFIG_DIR,
# SOURCE_CONFIG_FILE, SOURCE_HOST, PORT, WAIT_SECONDS.
REPLICATION_SQL="$(cat)"
[ -n "${REPLICATION_SQL}" ] || fail "stdin must hold the replication SQL"
server_up || fail "${SERVICE} is not running; the server step should have started it"
wait_server
# A node still configured as the source has not been through its demotion: two writable
# servers would diverge.
[ ! -e "${CONFIG_DIR}/${SOURCE_CONFIG_FILE}" ] \
    || fail "this node is still the source (${CONFIG_DIR}/${SOURCE_CONFIG_FILE}); refusing"
sql -e "${READ_ONLY_ON}"

say "replica: following ${SOURCE_HOST}:${PORT} by GTID"
printf '%s\n' "${REPLICATION_SQL}" | sql
for _ in $(seq 1 "${WAIT_SECONDS}"); do
    status="$(replica_status)"
    io="$(field "${IO_RUNNING_FIELD}" <<<"${status}")"
    applier="$(field "${SQL_RUNNING_FIELD}" <<<"${status}")"
    if [ "${io}" = Yes ] && [ "${applier}" = Yes ]; then
        say "replica: IO and SQL threads running"
        exit 0
    fi
    sleep 1
done
fail "replication from ${SOURCE_HOST} is not running after ${WAIT_SECONDS} s" \
    "(IO: ${io:-none}, SQL: ${applier:-none}). Last_IO_Error: $(field Last_IO_Error <<<"${status}")." \
    "Last_SQL_Error: $(field Last_SQL_Error <<<"${status}")"
