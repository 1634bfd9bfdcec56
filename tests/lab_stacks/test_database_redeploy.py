"""The managed MariaDB pair deployed again onto nodes that kept their data (destroy keeps it).

In order, on one stack (node1 source, node2 replica, data kept on destroy): a row replicates;
destroy keeps the data; up again resumes replication with both rows on the replica. Then node2
writes a transaction of its own and loses the history id (data from another deployment, as left
by earlier stacks): after destroy and up the replica step fails within seconds naming node2,
/var/lib/mysql and the runbook, instead of waiting out its timeout on error 1236. The runbook's
commands on node2 make the next up replicate again. Last, node1's data is wiped after a destroy
while node2 keeps its own: the replica step refuses node2's data by its history id. The nodes
must hold no MariaDB at the start; the test leaves none. About 3-4 minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import node_address, require_lab_up
from tests.lab_stacks.database import (
    DATA_DIR,
    NODES,
    WIPE,
    lab_database,
    on,
    root_sql,
    start_clean,
    wait_replicated,
    wipe,
)
from tests.lab_stacks.harness import component_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

# Well under the replica step's 120 s wait: the refusal must not wait for it.
FAST_SECONDS = 60
# The runbook in docs/operations.md, "A replica with data from another deployment".
RUNBOOK = (
    f"systemctl stop mariadb && mv {DATA_DIR} {DATA_DIR}.other-deployment"
    f" && mariadb-install-db --user=mysql --datadir={DATA_DIR} >/dev/null"
    " && systemctl start mariadb"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    require_lab_up()
    start_clean()
    where: Path = tmp_path_factory.mktemp("dbredeploy")
    created = component_stack(
        "dbredeploy",
        where,
        ["database"],
        overrides={"database": {**lab_database(), "deleteDataOnDestroy": False}},
    )
    try:
        yield created
    finally:
        created.destroy(on_output=print)
        for node in NODES:
            on(node, f"{WIPE}; rm -rf {DATA_DIR}.other-deployment")


def insert_and_replicate(row: int) -> None:
    root_sql(
        "node1",
        "CREATE TABLE IF NOT EXISTS console.redeploy (id INT PRIMARY KEY);"
        f" INSERT INTO console.redeploy VALUES ({row})",
    )
    wait_replicated("node1", "node2")


def replicated_rows() -> list[str]:
    return root_sql("node2", "SELECT id FROM console.redeploy ORDER BY id").split()


def failed_up(stack: auto.Stack) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(auto.CommandError) as failure:
        stack.up(on_output=print)
    return str(failure.value), time.monotonic() - started


def assert_refused(message: str, seconds: float) -> None:
    assert seconds < FAST_SECONDS, seconds
    assert "database-replica" in message
    assert f"node2: the data in {DATA_DIR} is not from the deployment of the source" in message
    assert node_address("node1") in message
    assert "docs/operations.md" in message and "database.deleteDataOnDestroy" in message
    state = on("node2", "mariadb -e 'SHOW SLAVE STATUS\\G'; mariadb -N -e 'SELECT @@read_only'")
    assert "Slave_IO_Running: Yes" not in state
    assert state.strip().endswith("1")  # left read-only


def test_destroy_then_up_resumes_replication(stack: auto.Stack) -> None:
    stack.up(on_output=print)
    insert_and_replicate(1)
    stack.destroy(on_output=print)
    for node in NODES:
        kept = on(node, f"dpkg -s mariadb-server >/dev/null 2>&1 || ls {DATA_DIR}/console")
        assert "redeploy" in kept, node
    stack.up(on_output=print)
    insert_and_replicate(2)
    assert replicated_rows() == ["1", "2"]
    status = on("node2", "mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status


def test_replica_with_its_own_history_fails_fast_and_the_runbook_recovers(
    stack: auto.Stack,
) -> None:
    # A transaction of node2's own (its server id in the GTID), and no history id: as data left
    # by a stack in which node2 was the source.
    root_sql("node2", "STOP SLAVE; DROP DATABASE rainbond_ha")
    stack.destroy(on_output=print)
    message, seconds = failed_up(stack)
    assert_refused(message, seconds)
    assert "binary log does not have what it holds" in message
    assert "1236" in message

    on("node2", RUNBOOK)
    stack.up(on_output=print)
    insert_and_replicate(3)
    # Rebuilt from the source's binary log: the rows from before are there too.
    assert replicated_rows() == ["1", "2", "3"]


def test_replica_kept_data_after_the_source_was_wiped_is_refused(stack: auto.Stack) -> None:
    stack.destroy(on_output=print)
    wipe("node1")
    message, seconds = failed_up(stack)
    assert_refused(message, seconds)
    theirs = root_sql("node1", "SELECT id FROM rainbond_ha.history")
    ours = root_sql("node2", "SELECT id FROM rainbond_ha.history")
    assert theirs != ours
    assert f"history {ours}; the source's is {theirs}" in message
