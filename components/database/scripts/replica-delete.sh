# Stops replicating from SOURCE_HOST, if this node still does: after a switchover it is already
# the source and nothing is touched. Data and read-only state stay. Params: as replica.sh.
server_up || exit 0
wait_server
if [ "$(replica_status | field "${SOURCE_HOST_FIELD}")" = "${SOURCE_HOST}" ]; then
    sql -e "${STOP_REPLICA}; ${RESET_REPLICA}"
    say "stopped replicating from ${SOURCE_HOST}"
else
    say "not replicating from ${SOURCE_HOST}; nothing to stop"
fi
