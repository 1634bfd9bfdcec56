"""Upgrades and option changes never delete a database node's data (deleteDataOnDestroy: true).

The stack runs a copy of the program, so a test can change it the way a new release of
rainbond-ha would. In order, on one stack (node1 source, node2 replica): a row replicates; a
release that changes the database scripts' shared helpers updates every database step in place,
without a restart, and the rows are still on both nodes; a release whose server step fails, then
the next release, keeps them too; turning deleteDataOnDestroy off removes the data steps and
keeps the data, also through a destroy; turning it on again, up and destroy delete it. The nodes
must hold no MariaDB at the start; the test leaves none. About 4 minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import require_lab_up
from tests.lab_stacks.database import (
    DATA_DIR,
    NODES,
    lab_database,
    on,
    root_sql,
    start_clean,
    wait_replicated,
    wipe,
    write_config,
)
from tests.lab_stacks.harness import component_stack
from tests.lab_stacks.release import copy_release, run_from

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_release(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, release: Path) -> Iterator[auto.Stack]:
    require_lab_up()
    start_clean()
    where: Path = tmp_path_factory.mktemp("dbupgrade")
    created = component_stack(
        "dbupgrade",
        where,
        ["database"],
        overrides={"database": {**lab_database(), "deleteDataOnDestroy": True}},
    )
    run_from(created, release)
    try:
        yield created
    finally:
        created.destroy(on_output=print)
        for node in NODES:
            wipe(node)


def rows(node: str) -> list[str]:
    return root_sql(node, "SELECT id FROM console.upgrade ORDER BY id").split()


def changes(result: auto.UpResult) -> dict[str, int]:
    summary = result.summary.resource_changes or {}
    return {kind: count for kind, count in summary.items() if kind != "same"}


def test_a_release_updates_the_server_steps_in_place_and_keeps_the_data(
    stack: auto.Stack, release: Path
) -> None:
    stack.up(on_output=print)
    root_sql(
        "node1",
        "CREATE TABLE console.upgrade (id INT PRIMARY KEY); INSERT INTO console.upgrade VALUES (1)",
    )
    wait_replicated("node1", "node2")
    started = {node: server_started(node) for node in NODES}

    # A release changing the helpers every database script shares.
    common = release / "components" / "database" / "scripts" / "common.sh"
    common.write_text(common.read_text() + "# a later release\n")
    upgraded = stack.up(on_output=print)

    # Every database step ran again, in place: no delete, no restart of a server.
    assert changes(upgraded).get("update", 0) >= 4, changes(upgraded)
    assert not {"replace", "delete", "create"} & set(changes(upgraded)), changes(upgraded)
    for node in NODES:
        assert rows(node) == ["1"], node
        assert server_started(node) == started[node], node
    root_sql("node1", "INSERT INTO console.upgrade VALUES (2)")
    wait_replicated("node1", "node2")
    assert rows("node2") == ["1", "2"]


def test_a_failed_server_step_then_the_next_release_keeps_the_data(
    stack: auto.Stack, release: Path
) -> None:
    scripts = release / "components" / "database" / "scripts"
    server, common = scripts / "server.sh", scripts / "common.sh"
    working = server.read_text()
    # A release whose server step fails on the nodes (as an unreachable apt source would make
    # it): the server it updates keeps running with the data.
    server.write_text('echo "database: this release fails here" >&2; exit 1\n' + working)
    with pytest.raises(auto.CommandError, match="this release fails here"):
        stack.up(on_output=print)
    for node in NODES:
        assert rows(node) == ["1", "2"], node

    # The next release, which also changes the shared helpers.
    server.write_text(working)
    common.write_text(common.read_text() + "# the release after\n")
    stack.up(on_output=print)
    for node in NODES:
        assert rows(node) == ["1", "2"], node


def server_started(node: str) -> str:
    """When the node's MariaDB last started: a restart changes it."""
    return on(node, "systemctl show -p ActiveEnterTimestampMonotonic mariadb").strip()


def test_turning_the_option_off_keeps_the_data(stack: auto.Stack) -> None:
    write_config(stack, {**lab_database(), "deleteDataOnDestroy": False})
    turned_off = stack.up(on_output=print)
    assert changes(turned_off).get("delete", 0) == len(NODES), changes(turned_off)
    for node in NODES:
        assert rows(node) == ["1", "2"], node
    stack.destroy(on_output=print)
    for node in NODES:
        # No server any more: the table's files are what is left of the data.
        assert "upgrade.frm" in on(node, f"ls {DATA_DIR}/console"), node


def test_destroy_with_the_option_on_deletes_the_data(stack: auto.Stack) -> None:
    write_config(stack, {**lab_database(), "deleteDataOnDestroy": True})
    stack.up(on_output=print)
    stack.destroy(on_output=print)
    for node in NODES:
        left = on(node, f"ls -d {DATA_DIR} 2>&1; dpkg -s mariadb-server 2>&1", check=False)
        assert "No such file or directory" in left and "is not installed" in left, left
