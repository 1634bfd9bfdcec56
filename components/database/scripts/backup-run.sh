# rainbond-ha-db-backup run|status: one backup of DATABASES into DIRECTORY, or the last result.
# A run: dump with the GTID position it holds, check it, keep the closed binary logs, prune, copy
# off the node, record. The result goes to STATE_DIR/status whatever happens.
status_file="${STATE_DIR}/status"
case "${1:-run}" in
status)
    if [ -s "${status_file}" ]; then cat "${status_file}"; else echo "result=none (no backup yet)"; fi
    exit 0
    ;;
run) ;;
*) fail "usage: $0 run|status" ;;
esac

exec 9>/run/lock/rainbond-ha-db-backup.lock
flock -n 9 || fail "another backup is running"
umask 077
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
file="" size="" sum="" position="" copied="no"
record() {
    printf 'time=%s\nresult=%s\nfile=%s\nsize=%s\nsha256=%s\nposition=%s\ncopied=%s\nmessage=%s\n' \
        "${started}" "$1" "${file}" "${size}" "${sum}" "${position}" "${copied}" "$2" \
        >"${status_file}.new"
    mv -f "${status_file}.new" "${status_file}"
}
set -E
trap 'record failed "exit $? at line ${LINENO}"' ERR

install -d -m 0700 "${DIRECTORY}" "${DIRECTORY}/binlogs" "${STATE_DIR}"
file="${DIRECTORY}/$(date -u +%Y%m%dT%H%M%SZ).sql.gz"
# One consistent snapshot of both databases, with the position it holds, without locking writes.
"${DUMP}" --single-transaction ${DUMP_POSITION} --routines --events --triggers \
    --databases ${DATABASES} | gzip >"${file}.part"
gzip -t "${file}.part"
tail_text="$(zcat "${file}.part" | tail -c 65536)"
tail -n 1 <<<"${tail_text}" | grep '^-- Dump completed' >/dev/null ||
    { record failed "the dump did not complete"; fail "the dump did not complete"; }
# The position is near the head of the dump (mysqldump's) or after the data (mariadb-dump --gtid
# prints the GTID position at the end); zcat stopping early for head is no failure.
head_text="$({ zcat "${file}.part" 2>/dev/null || true; } | head -c 65536)"
position="$(sed -n "s/.*${POSITION_PATTERN}.*/\1/p" <<<"${head_text}
${tail_text}" | sed -n 1p)"
[ -n "${position}" ] || { record failed "no GTID position in the dump"; fail "no GTID position"; }
mv -f "${file}.part" "${file}"
(cd "${DIRECTORY}" && sha256sum "$(basename "${file}")" >"${file}.sha256" && sha256sum -c --quiet "${file}.sha256")
sum="$(cut -d' ' -f1 "${file}.sha256")"
size="$(stat -c %s "${file}")"
printf '%s\n' "${position}" >"${file}.position"

# Every binary log but the one in use: with the dump, a restore reaches any later point.
sql -e "FLUSH BINARY LOGS"
current="$(sql -e "SHOW MASTER STATUS" | cut -f1)"
for log in "${DATA_DIR}"/mysql-bin.[0-9]*; do
    # Root's own 0600 copies (the server's are the mysql group's); their times decide retention.
    [ "$(basename "${log}")" = "${current}" ] ||
        cp -n --preserve=timestamps "${log}" "${DIRECTORY}/binlogs/"
done

# Keep the newest KEEP dumps younger than MAX_AGE_DAYS; the newest always. Binary logs last
# written before the oldest dump kept are not needed by any.
mapfile -t dumps < <(ls -1t "${DIRECTORY}"/*.sql.gz)
for i in "${!dumps[@]}"; do
    old="${dumps[$i]}"
    if [ "${i}" -ge "${KEEP}" ] || { [ "${i}" -gt 0 ] &&
        [ -n "$(find "${old}" -mtime +"${MAX_AGE_DAYS}")" ]; }; then
        rm -f "${old}" "${old}.sha256" "${old}.position"
    fi
done
oldest="$(ls -1t "${DIRECTORY}"/*.sql.gz | tail -n 1)"
find "${DIRECTORY}/binlogs" -type f ! -newer "${oldest}" -delete

if [ -n "${COPY_TARGET}" ]; then
    rsync -a --delete -e "ssh -i ${LOGIN_DIR}/key -p ${COPY_PORT} -o BatchMode=yes \
-o UserKnownHostsFile=${LOGIN_DIR}/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=10" \
        "${DIRECTORY}/" "${COPY_TARGET}/"
    copied="${COPY_TARGET}"
fi
record ok "$(basename "${file}") at ${position}"
say "backup: $(basename "${file}") (${size} bytes) at ${position}, copied: ${copied}"
