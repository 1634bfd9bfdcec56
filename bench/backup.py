"""Database backup and restore times for a generated database of SIZE_MIB of row data.

On the whole-platform stack (backups on, as the lab stack has them): a table of 1 KiB rows is
generated in `console` on the source and replicated; one run of the replica's backup program is
timed (dump, checks, binary log copies); the dump it wrote is restored into a scratch MariaDB on
the replica (its own data directory and socket, no network), timed; then, for reference, the same
databases piped with a plain `mariadb-dump | mariadb` into the scratch server. Everything the
benchmark made goes afterwards.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from components.database import backup
from lab.labctl import ssh_argv
from tests.lab_stacks.database import on, root_sql, wait_replicated

SIZE_MIB = 1024
ROW_BYTES = 1024
TABLE = "console.bench_backup"
# Random hex, 32 digests a row: it compresses about 2:1, less than Rainbond's own rows would.
PAYLOAD = "CONCAT(" + ", ".join(["MD5(RAND())"] * (ROW_BYTES // 32)) + ")"
SCRATCH = "/var/tmp/rainbond-ha-bench-scratch"
SOCKET = f"{SCRATCH}/mariadb.sock"
# A second server beside the replica's: no TCP, its own files, gone after the benchmark.
START_SCRATCH = (
    f"rm -rf {SCRATCH} && mkdir -p {SCRATCH}/data && chown -R mysql: {SCRATCH}"
    f" && mariadb-install-db --user=mysql --datadir={SCRATCH}/data >/dev/null"
    f" && (setsid mariadbd --no-defaults --user=mysql --datadir={SCRATCH}/data --socket={SOCKET}"
    f" --skip-networking --pid-file={SCRATCH}/pid --innodb-buffer-pool-size=256M"
    f" >{SCRATCH}/log 2>&1 </dev/null &)"
    f" && for i in $(seq 1 60); do mariadb -S {SOCKET} -e 'SELECT 1' >/dev/null 2>&1 && break;"
    " sleep 1; done"
)
STOP_SCRATCH = f"kill $(cat {SCRATCH}/pid) 2>/dev/null; sleep 3; rm -rf {SCRATCH}"
SCRATCH_CLEAN = (
    f"mariadb -S {SOCKET} -e 'DROP DATABASE IF EXISTS console; DROP DATABASE IF EXISTS region'"
)


def _long(node: str, command: str) -> None:
    """`command` on `node`, for as long as a gigabyte takes."""
    subprocess.run(ssh_argv(node, command), check=True, timeout=3600, stdout=subprocess.DEVNULL)


def _timed(node: str, command: str) -> float:
    started = time.monotonic()
    _long(node, command)
    return time.monotonic() - started


def _generate(source: str, rows: int) -> None:
    """`rows` rows of ROW_BYTES random text, by doubling from one row."""
    root_sql(
        source,
        f"DROP TABLE IF EXISTS {TABLE};"
        f" CREATE TABLE {TABLE} (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL);"
        f" INSERT INTO {TABLE} (payload) VALUES ({PAYLOAD});",
    )
    have = 1
    while have < rows:
        batch = min(have, rows - have)
        _long(
            source,
            f"mariadb -e 'INSERT INTO {TABLE} (payload) SELECT {PAYLOAD}"
            f" FROM {TABLE} LIMIT {batch}'",
        )
        have += batch


def measure(source: str, replica: str) -> dict[str, Any]:
    rows = SIZE_MIB * 1024 * 1024 // ROW_BYTES
    _generate(source, rows)
    wait_replicated(source, replica, timeout=1800)
    # Exact sizes in information_schema; LOCAL, so that the replica writes nothing of its own.
    root_sql(replica, f"ANALYZE LOCAL TABLE {TABLE}")
    size = int(
        root_sql(
            replica,
            "SELECT SUM(data_length + index_length) FROM information_schema.tables"
            " WHERE table_schema IN ('console', 'region')",
        )
    )
    status: dict[str, str] = {}
    try:
        backup_seconds = _timed(replica, f"{backup.RUN_PATH} run")
        status = dict(
            line.split("=", 1)
            for line in on(replica, f"{backup.RUN_PATH} status").splitlines()
            if "=" in line
        )
        assert status["result"] == "ok", status
        _long(replica, START_SCRATCH)
        restore_seconds = _timed(replica, f"zcat {status['file']} | mariadb -S {SOCKET}")
        restored = int(
            on(replica, f"mariadb -S {SOCKET} -N -B -e 'SELECT COUNT(*) FROM {TABLE}'").strip()
        )
        assert restored == rows, f"{restored} rows restored of {rows}"
        on(replica, SCRATCH_CLEAN)
        plain_seconds = _timed(
            replica,
            f"mariadb-dump --single-transaction --databases console region | mariadb -S {SOCKET}",
        )
        return {
            "rows": rows,
            "data_bytes": size,
            "dump_bytes": int(status["size"]),
            "backup": backup_seconds,
            "restore": restore_seconds,
            "plain": plain_seconds,
        }
    finally:
        on(replica, STOP_SCRATCH, check=False)
        if status.get("file"):
            # The benchmark's dump and the binary logs it kept: gigabytes on the lab's disk.
            directory = status["file"].rsplit("/", 1)[0]
            on(replica, f"rm -rf {directory}", check=False)
        root_sql(source, f"DROP TABLE IF EXISTS {TABLE}")
