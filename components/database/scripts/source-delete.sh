# This node stops taking writes (a switchover begins here, and destroy passes through it): the
# read-only default of the server options applies again, now and after a restart. Nothing is
# deleted. Params: as source.sh.
rm -f "${CONFIG_DIR}/${SOURCE_CONFIG_FILE}"
if server_up; then
    wait_server
    sql -e "${READ_ONLY_ON}"
    say "no longer the source: read-only"
fi
