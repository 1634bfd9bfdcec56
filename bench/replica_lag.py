"""Replica lag while 1,000 rows are inserted on the source, one autocommitted INSERT each.

Each row carries the time it was inserted on the source (SYSDATE(6), replicated row-based so the
replica keeps the source's value). A poller on the replica reads MAX(id) and the replica's own
SYSDATE(6) every few milliseconds; the lab nodes share the host's clock. A row's lag is the first
poll that saw it minus its insert time, so the poll interval (about 10 ms) bounds the resolution.
"""

from __future__ import annotations

import math
import statistics
import subprocess
from typing import Any

from lab.labctl import ssh_argv
from tests.lab_stacks.database import on, root_sql, wait_replicated

ROWS = 1000
DATABASE = "rainbond_ha_bench"
TABLE = f"{DATABASE}.lag"
STOP_FILE = "/run/rainbond-ha-bench-lag.stop"
# The poller ends by itself after this long, should the stop file never come.
POLL_LIMIT_SECONDS = 300
POLL = (
    f"rm -f {STOP_FILE}; end=$((SECONDS + {POLL_LIMIT_SECONDS}));"
    f" while [ ! -e {STOP_FILE} ] && [ $SECONDS -lt $end ]; do"
    f" echo 'SELECT COALESCE(MAX(id), 0), UNIX_TIMESTAMP(SYSDATE(6)) FROM {TABLE};';"
    " sleep 0.005; done | mariadb -N -B --unbuffered"
)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value at least `fraction` of the values do not exceed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def lags(polls: list[tuple[int, float]], inserted: dict[int, float]) -> list[float]:
    """Per row: the first poll time at which MAX(id) reached it, minus its insert time."""
    result = []
    pending = sorted(inserted)
    index = 0
    for seen_max, at in polls:
        while index < len(pending) and pending[index] <= seen_max:
            result.append(at - inserted[pending[index]])
            index += 1
    if index < len(pending):
        raise RuntimeError(f"the poller never saw rows {pending[index]}..{pending[-1]}")
    return result


def measure(source: str, replica: str, rows: int = ROWS) -> dict[str, Any]:
    root_sql(
        source,
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}; DROP TABLE IF EXISTS {TABLE};"
        f" CREATE TABLE {TABLE} (id INT PRIMARY KEY, at DATETIME(6) NOT NULL);",
    )
    wait_replicated(source, replica)
    poller = subprocess.Popen(ssh_argv(replica, POLL), stdout=subprocess.PIPE, text=True)
    try:
        assert poller.stdout is not None
        poller.stdout.readline()  # polling has started
        inserts = "".join(
            f"INSERT INTO {TABLE} VALUES ({i}, SYSDATE(6));\n" for i in range(1, rows + 1)
        )
        on(source, "mariadb", stdin=f"SET SESSION binlog_format = 'ROW';\n{inserts}")
        wait_replicated(source, replica)
        on(replica, f"touch {STOP_FILE}")
        output, _ = poller.communicate(timeout=30)
    finally:
        poller.kill()
        on(replica, f"rm -f {STOP_FILE}", check=False)
    polls = [
        (int(seen), float(at))
        for seen, at in (line.split("\t") for line in output.split("\n") if line)
    ]
    written = root_sql(replica, f"SELECT id, UNIX_TIMESTAMP(at) FROM {TABLE}")
    inserted = {int(i): float(at) for i, at in (line.split("\t") for line in written.splitlines())}
    root_sql(source, f"DROP DATABASE {DATABASE}")
    measured = lags(polls, inserted)
    return {
        "rows": len(measured),
        "p50": statistics.median(measured),
        "p99": percentile(measured, 0.99),
        "max": max(measured),
        "insert_seconds": max(inserted.values()) - min(inserted.values()),
        "polls": len(polls),
    }
