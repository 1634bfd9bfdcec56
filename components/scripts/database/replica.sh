# Placeholder: the ${ENGINE} replica of ${SOURCE_HOST}; the replication password arrives on stdin.
set -euo pipefail
IFS= read -r REPLICATION_PASSWORD
[ -n "${REPLICATION_PASSWORD}" ]
echo "would install ${ENGINE} on port ${PORT} with server-id ${SERVER_ID}, read_only"
echo "would replicate from ${SOURCE_HOST}:${PORT} by GTID"
