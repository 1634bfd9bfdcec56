"""Database backups on the lab: scheduled, checked, copied off the node, root's only, restored.

One stack of the managed pair (node1 source, node2 replica) with backups every 20 s, copied to
node3 with rsync over SSH (node3's pinned key; the lab key as a Pulumi secret). Rows are written
into `console` and `region`, a scheduled backup takes them and its copy on node3 verifies; the
backup files, the key and the status are root's only. Then docs/database.md's two restore
runbooks, step by step: a table dropped by mistake comes back as it was the second before, with the
rows written after the last backup; both nodes lost, a new pair gets every row back from node3's
copy. About 5 minutes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.database import backup
from lab.labctl import KNOWN_HOSTS, SSH_KEY, node_address, require_lab_up, ssh_argv
from tests.lab_stacks.audit import on
from tests.lab_stacks.database import (
    LOGIN,
    as_rainbond,
    lab_database,
    root_sql,
    start_clean,
    wait_replicated,
    wipe,
)
from tests.lab_stacks.harness import component_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

SOURCE, REPLICA, TARGET = "node1", "node2", "node3"
DIRECTORY = "/var/backups/rainbond-ha/database"
OFFSITE = "/var/backups/rainbond-ha-offsite"
SCHEDULE = "*:*:0/20"
# What each runbook step runs, as docs/database.md gives it.
START = (
    "zcat {dump} | sed -n"
    " \"s/.*MASTER_LOG_FILE='\\([^']*\\)', MASTER_LOG_POS=\\([0-9]*\\).*/\\1 \\2/p\" | head -n 1"
)
REPLAY = (
    "mariadb-binlog --no-defaults --start-position={position} {stop} {logs}"
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
    # A dump far larger than the 64 KiB read at its head: mariadb-dump --gtid writes the GTID
    # position after the data, and the backup must still find it.
    root_sql(
        SOURCE,
        "CREATE TABLE console.bulk (id INT PRIMARY KEY, payload TEXT);"
        " INSERT INTO console.bulk SELECT seq, REPEAT(MD5(seq), 8) FROM console.seq_1_to_2000",
    )
    wait_replicated(SOURCE, REPLICA)
    taken = next_backup(now())
    assert taken["position"], taken
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


def binlog_replay(node: str, dump: str, binlogs: str, stop: str = "") -> str:
    """The runbooks' replay: the binary logs of `binlogs` from the dump's position (to `stop`)."""
    first, position = on(node, START.format(dump=dump)).split()
    logs = f"$(ls {binlogs}/mysql-bin.[0-9]* | sed -n '\\|/{first}$|,$p')"
    replay = REPLAY.format(position=position, stop=stop, logs=logs)
    replayed = f"set -e -o pipefail; {replay} >/root/replay.sql; grep -c '^BINLOG' /root/replay.sql"
    return on(node, f"{replayed} || true")


def copy_files(source: str, files: list[str], target: str, into: str) -> None:
    """`files` (absolute paths; a folder's content when it ends in /.) from `source` into the
    folder `into` on `target`, through this host."""
    members = " ".join("-C {} {}".format(*f.rsplit("/", 1)) for f in files)
    pack = subprocess.Popen(ssh_argv(source, f"tar -c {members}"), stdout=subprocess.PIPE)
    unpack = subprocess.run(
        ssh_argv(target, f"mkdir -p {into} && tar -C {into} -x"), stdin=pack.stdout, timeout=120
    )
    assert pack.wait(timeout=120) == 0 and unpack.returncode == 0


def rainbond_count(stack: auto.Stack, table: str) -> int:
    """Rows of `table` as Rainbond's database user reads them, from the replica's node (it has a
    client) through the source's address."""
    password = stack.outputs()["database"].value["password"]
    on(REPLICA, f"umask 077; cat > {LOGIN}", f"[client]\nuser=rainbond\npassword={password}\n")
    try:
        return int(as_rainbond(REPLICA, node_address(SOURCE), f"SELECT COUNT(*) FROM {table}"))
    finally:
        on(REPLICA, f"rm -f {LOGIN}")


def utc_second() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def test_a_table_dropped_by_mistake_comes_back_as_it_was_the_second_before(
    stack: auto.Stack,
) -> None:
    root_sql(SOURCE, "CREATE TABLE console.lost (id INT PRIMARY KEY)")
    insert("console.lost", range(1, 21))
    wait_replicated(SOURCE, REPLICA)
    taken = next_backup(now())
    insert("console.lost", range(21, 31))  # only in the binary logs after the backup
    wait_replicated(SOURCE, REPLICA)
    # --stop-datetime stops at the first event of that second: the mistake comes a second later.
    time.sleep(1.2)
    stop = utc_second()
    time.sleep(1.2)
    root_sql(SOURCE, "DROP TABLE console.lost")
    insert("console.kept", range(51, 53))  # after the mistake: not restored
    wait_replicated(SOURCE, REPLICA)

    on(REPLICA, f"systemctl stop {backup.UNIT}.timer")
    on(REPLICA, "mariadb -e 'FLUSH BINARY LOGS'")
    replayed = binlog_replay(REPLICA, taken["file"], "/var/lib/mysql", f"--stop-datetime='{stop}'")
    assert int(replayed) >= 1, "the replay holds no row events"
    copy_files(REPLICA, [taken["file"], "/root/replay.sql"], SOURCE, "/root/from-replica")
    dump = f"/root/from-replica/{Path(taken['file']).name}"
    on(SOURCE, f"zcat {dump} | mariadb && mariadb </root/from-replica/replay.sql")
    wait_replicated(SOURCE, REPLICA)
    for node in (SOURCE, REPLICA):
        assert ids(node, "console.lost") == list(range(1, 31)), node
        assert ids(node, "console.kept") == list(range(1, 51)), node
    assert rainbond_count(stack, "console.lost") == 30
    on(REPLICA, f"systemctl start {backup.UNIT}.timer")
    on(SOURCE, "rm -rf /root/from-replica")
    on(REPLICA, "rm -f /root/replay.sql")


def test_both_nodes_lost_a_new_pair_gets_every_row_back_from_the_copy(stack: auto.Stack) -> None:
    insert("region.kept", range(11, 21))
    wait_replicated(SOURCE, REPLICA)
    newest = next_backup(now())
    expected = {table: ids(SOURCE, table) for table in ("console.kept", "region.kept")}
    # Before the new pair's first backup mirrors an empty directory over it: set the copy aside.
    on(TARGET, f"cp -a {OFFSITE} {OFFSITE}.saved")
    # Both nodes lost: the stack goes (its destroy deletes the data), and the backups with them.
    stack.destroy(on_output=print)
    for node in (SOURCE, REPLICA):
        wipe(node)
        on(node, f"rm -rf {DIRECTORY}")
    stack.up(on_output=print)
    assert root_sql(SOURCE, "SHOW TABLES FROM console") == ""

    copy_files(TARGET, [f"{OFFSITE}.saved/."], SOURCE, "/root/restore")
    dump = f"/root/restore/{Path(newest['file']).name}"
    binlog_replay(SOURCE, dump, "/root/restore/binlogs")
    on(SOURCE, f"zcat {dump} | mariadb && mariadb </root/replay.sql")
    wait_replicated(SOURCE, REPLICA)
    for node in (SOURCE, REPLICA):
        for table, rows in expected.items():
            assert ids(node, table) == rows, (node, table)
    assert rainbond_count(stack, "region.kept") == len(expected["region.kept"])
    on(SOURCE, "rm -rf /root/restore /root/replay.sql")
    on(TARGET, f"rm -rf {OFFSITE}.saved")
