"""Database backups on the lab: scheduled, checked, copied off the node, root's only.

One stack of the managed pair (node1 source, node2 replica) with backups every 20 s, copied to
node3 with rsync over SSH (node3's pinned key; the lab key as a Pulumi secret). Rows are written
into `console` and `region`, a scheduled backup takes them and its copy on node3 verifies; the
backup files, the key and the status are root's only. About 2 minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.database import backup
from lab.labctl import KNOWN_HOSTS, SSH_KEY, node_address, require_lab_up
from tests.lab_stacks.audit import on
from tests.lab_stacks.database import lab_database, root_sql, start_clean, wait_replicated, wipe
from tests.lab_stacks.harness import component_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

SOURCE, REPLICA, TARGET = "node1", "node2", "node3"
DIRECTORY = "/var/backups/rainbond-ha/database"
OFFSITE = "/var/backups/rainbond-ha-offsite"
SCHEDULE = "*:*:0/20"
# What each runbook step runs, as docs/database.md gives it.
LATEST = f"{backup.RUN_PATH} status | sed -n 's/^file=//p'"
START = (
    "zcat {dump} | sed -n"
    " \"s/.*MASTER_LOG_FILE='\\([^']*\\)', MASTER_LOG_POS=\\([0-9]*\\).*/\\1 \\2/p\" | head -n 1"
)
REPLAY = (
    "mariadb-binlog --start-position={position} {stop} {logs}"
    " | sed '/@@session.gtid_seq_no/d; /@@session.gtid_domain_id/d; /@@session.server_id/d'"
)


def node3_key() -> str:
    for line in KNOWN_HOSTS.read_text().splitlines():
        names, key = line.split(maxsplit=1)
        if TARGET in names.split(","):
            return key
    raise AssertionError(f"{TARGET} is not in {KNOWN_HOSTS}")


def database_config() -> dict[str, object]:
    copy = {"host": node_address(TARGET), "path": OFFSITE, "hostKey": node3_key()}
    return {
        **lab_database(),
        "deleteDataOnDestroy": True,
        "backup": {"schedule": SCHEDULE, "keep": 3, "copyTo": copy},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    require_lab_up()
    start_clean()
    on(TARGET, "apt-get -o DPkg::Lock::Timeout=300 -y install --no-install-recommends rsync")
    created = component_stack(
        "dbbackup",
        tmp_path_factory.mktemp("dbbackup"),
        ["database"],
        overrides={"database": database_config()},
    )
    created.set_config(
        "rainbond-ha:database.backup.copyTo.privateKey",
        auto.ConfigValue(SSH_KEY.read_text(), secret=True),
        path=True,
    )
    try:
        yield created
    finally:
        created.destroy(on_output=print)
        for node in (SOURCE, REPLICA):
            wipe(node)
            on(node, f"rm -rf {DIRECTORY}")
        on(TARGET, f"rm -rf {OFFSITE}; apt-get -y purge --autoremove rsync >/dev/null 2>&1; true")


def status() -> dict[str, str]:
    text = on(REPLICA, f"{backup.RUN_PATH} status")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def next_backup(after: str) -> dict[str, str]:
    """The first successful backup that started after `after` (UTC, ISO 8601)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        found = status()
        if found.get("result") == "ok" and found["time"] > after:
            return found
        assert found.get("result") != "failed", found
        time.sleep(2)
    raise AssertionError(f"no backup after {after}: {status()}")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ids(node: str, table: str) -> list[int]:
    return [int(row) for row in root_sql(node, f"SELECT id FROM {table} ORDER BY id").split()]


def insert(table: str, rows: range) -> None:
    values = ", ".join(f"({row})" for row in rows)
    root_sql(SOURCE, f"INSERT INTO {table} VALUES {values}")


def test_a_scheduled_backup_takes_the_rows_and_its_copy_verifies(stack: auto.Stack) -> None:
    stack.up(on_output=print)
    root_sql(SOURCE, "CREATE TABLE console.kept (id INT PRIMARY KEY)")
    root_sql(SOURCE, "CREATE TABLE region.kept (id INT PRIMARY KEY)")
    insert("console.kept", range(1, 51))
    insert("region.kept", range(1, 11))
    wait_replicated(SOURCE, REPLICA)
    taken = next_backup(now())
    assert taken["copied"] == f"root@{node_address(TARGET)}:{OFFSITE}", taken
    name = Path(taken["file"]).name
    assert on(TARGET, f"cd {OFFSITE} && sha256sum -c {name}.sha256").strip() == f"{name}: OK"
    dump = on(TARGET, f"zcat {OFFSITE}/{name}")
    assert "INSERT INTO `kept` VALUES" in dump and "(50)" in dump


def test_backups_and_their_credentials_are_root_only(stack: auto.Stack) -> None:
    modes = on(REPLICA, f"stat -c '%a %U %n' {DIRECTORY} {DIRECTORY}/* {backup.LOGIN_DIR}/key")
    for line in modes.splitlines():
        mode, owner, _ = line.split(maxsplit=2)
        assert owner == "root" and mode in ("700", "600"), line
    assert "PRIVATE KEY" not in on(REPLICA, f"cat {backup.RUN_PATH} /etc/systemd/system/*.service")
