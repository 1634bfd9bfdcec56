"""`pulumi up` of the whole platform interrupted while steps run on the nodes, then run again.

Once with Ctrl-C (SIGINT to pulumi's process group, as a terminal sends it) and once with SIGKILL
to pulumi and its plugins (a crash, a lost CI runner), each sent while MariaDB is being installed
on node2 (the replica, whose server goes first). Afterwards exactly what docs/operations.md tells
an operator to run is run, and nothing by hand on the nodes: `pulumi up` converges, a further
`up` changes nothing, one gateway node holds the VIP and a row written on the database source is
read on the replica. About 2 minutes each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import VIP, netns_name, ssh_argv
from tests.lab_stacks.faults import UpProcess, on, pending_operations, platform_stack, pulumi

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

GATEWAYS = ("node1", "node2")
# A long step: apt installs MariaDB (several seconds), so the signal lands in the middle of it.
# The replica's server (node2) changes first; the step reads a password, so its output is not
# logged, and the node itself shows when dpkg unpacks MariaDB.
INTERRUPTED_NODE = "node2"
INTERRUPTED_STEP = f"database-server-{INTERRUPTED_NODE}"
# Watched on the node itself every 20 ms: dpkg's unpack of MariaDB can last under a second, which
# polling over SSH misses. Anchored, so the shell that runs pgrep (its command line holds the
# pattern) is no match.
UNPACKING = (
    'timeout {timeout} sh -c \'until pgrep -f "^(/usr/bin/)?dpkg .*--unpack.*mariadb" >/dev/null;'
    " do sleep 0.02; done; echo unpacking'"
)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[auto.Stack]:
    with platform_stack("interrupt", tmp_path / "stack") as stack:
        yield stack


def vip_holders() -> list[str]:
    """The gateway nodes with the VIP on host0, read from their network namespaces."""
    found = []
    for node in GATEWAYS:
        argv = ["ip", "-n", netns_name(node), "-4", "-o", "addr", "show", "dev", "host0"]
        if f" {VIP}/" in subprocess.run(argv, capture_output=True, text=True, check=True).stdout:
            found.append(node)
    return found


def wait_for_unpacking(up: UpProcess, timeout: int = 300) -> None:
    watch = UNPACKING.format(timeout=timeout)
    watcher = subprocess.Popen(
        ssh_argv(INTERRUPTED_NODE, watch),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        while watcher.poll() is None and up.process.poll() is None:
            time.sleep(0.05)
        seen = watcher.stdout.read() if watcher.poll() is not None and watcher.stdout else ""
    finally:
        watcher.kill()
    if "unpacking" not in seen:
        raise AssertionError(f"dpkg never unpacked MariaDB on {INTERRUPTED_NODE}:\n{up.text()}")


@pytest.mark.parametrize("crash", [False, True], ids=["sigint", "sigkill"])
def test_next_up_converges_after_an_interrupted_up(
    platform: auto.Stack, tmp_path: Path, crash: bool
) -> None:
    up = UpProcess(platform, tmp_path)
    try:
        wait_for_unpacking(up)
        time.sleep(0.2)  # into the step's install, which goes on for seconds after the unpack
        running = up.running_steps()
        assert INTERRUPTED_STEP in running, up.text()
        if crash:
            up.crash()
        else:
            up.signal(signal.SIGINT)
        code = up.wait(timeout=120)
    finally:
        up.kill()
    assert code != 0, up.text()
    pending = [op["resource"]["urn"].rsplit("::", 1)[1] for op in pending_operations(platform)]
    print(f"running when interrupted: {sorted(running)}; pending afterwards: {sorted(pending)}")

    # What docs/operations.md says to do after an interrupted up, and nothing on the nodes.
    if crash:
        locked = pulumi(platform, "up", "--yes", "--skip-preview")
        assert locked.returncode != 0 and "pulumi cancel" in locked.stderr, locked.stderr
        assert pulumi(platform, "cancel", "--yes").returncode == 0
        # The steps that were running stay recorded as pending creates, even after a good up.
        assert pending_operations(platform)
        cleared = pulumi(platform, "refresh", "--clear-pending-creates", "--yes", "--skip-preview")
        assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    converge = pulumi(platform, "up", "--yes", "--skip-preview")
    assert converge.returncode == 0, converge.stdout + converge.stderr
    assert pending_operations(platform) == []
    again = platform.up()
    changes = {k: v for k, v in (again.summary.resource_changes or {}).items() if k != "same"}
    assert changes == {}, again.stdout

    assert vip_holders() in (["node1"], ["node2"])
    on(
        "node1",
        "mariadb -e 'CREATE TABLE IF NOT EXISTS console.interrupt_test (id INT PRIMARY KEY);"
        " INSERT INTO console.interrupt_test VALUES (1)'",
    )
    position = on("node1", "mariadb -N -B -e 'SELECT @@GLOBAL.gtid_binlog_pos'").strip()
    waited = on("node2", f"mariadb -N -B -e \"SELECT MASTER_GTID_WAIT('{position}', 60)\"")
    assert waited.strip() == "0"
    assert on("node2", "mariadb -N -B -e 'SELECT id FROM console.interrupt_test'").split() == ["1"]
