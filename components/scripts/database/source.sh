# Placeholder: the ${ENGINE} source; user and replication passwords arrive on stdin, one a line.
set -euo pipefail
IFS= read -r USER_PASSWORD
IFS= read -r REPLICATION_PASSWORD
[ -n "${USER_PASSWORD}" ] && [ -n "${REPLICATION_PASSWORD}" ]
echo "would install ${ENGINE} on port ${PORT} with server-id ${SERVER_ID}, binlog and GTID"
echo "would create databases ${DATABASES} (utf8mb4) and user ${USER} with mysql_native_password"
