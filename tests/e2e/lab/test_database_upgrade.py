"""Upgrades and option changes never delete a database node's data (deleteDataOnDestroy: true).

The stack runs a copy of the program, so a test can change it the way a new release of
rainbond-ha would. In order, on one stack (node1 source, node2 replica): a row replicates; a
release that changes the database scripts' shared helpers replaces both server steps (their
deletes purge MariaDB) and the rows are still on both nodes; a release whose server step fails
after that purge, then the next release, keeps them too; turning deleteDataOnDestroy off removes
the data steps and keeps the data, also through a destroy; turning it on again, up and destroy
delete it. The nodes must hold no MariaDB at the start; the test leaves none. About 4 minutes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import require_lab_up
from tests.e2e.engine import PROJECT_ROOT
from tests.e2e.lab.harness import component_stack
from tests.e2e.lab.test_database import (
    DATA_DIR,
    NODES,
    lab_database,
    on,
    root_sql,
    wait_replicated,
    write_config,
)
from tests.e2e.lab.test_database_redeploy import start_clean, wipe

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

# What the scratch project imports: the program and the packages it uses.
RELEASE = [
    "config",
    "components",
    "tests/__init__.py",
    "tests/e2e/__init__.py",
    "tests/e2e/lab/__init__.py",
    "tests/e2e/lab/program.py",
]


def copy_release(target: Path) -> None:
    for entry in RELEASE:
        source = PROJECT_ROOT / entry
        if source.is_dir():
            shutil.copytree(source, target / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (target / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / entry)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("release")
    copy_release(where)
    return where


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
    # The scratch project runs the copy instead of the live tree.
    main = where / "project" / "__main__.py"
    main.write_text(main.read_text().replace(repr(str(PROJECT_ROOT)), repr(str(release))))
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


def test_release_that_replaces_the_server_steps_keeps_the_data(
    stack: auto.Stack, release: Path
) -> None:
    stack.up(on_output=print)
    root_sql(
        "node1",
        "CREATE TABLE console.upgrade (id INT PRIMARY KEY); INSERT INTO console.upgrade VALUES (1)",
    )
    wait_replicated("node1", "node2")

    # A release changing the helpers every database script shares.
    common = release / "components" / "scripts" / "database" / "common.sh"
    common.write_text(common.read_text() + "# a later release\n")
    upgraded = stack.up(on_output=print)

    # Both server steps were replaced (their deletes purged MariaDB), so the test means something.
    assert changes(upgraded).get("replace", 0) >= 2, changes(upgraded)
    for node in NODES:
        assert rows(node) == ["1"], node
    root_sql("node1", "INSERT INTO console.upgrade VALUES (2)")
    wait_replicated("node1", "node2")
    assert rows("node2") == ["1", "2"]


def test_a_failed_server_step_then_the_next_release_keeps_the_data(
    stack: auto.Stack, release: Path
) -> None:
    scripts = release / "components" / "scripts" / "database"
    server, common = scripts / "server.sh", scripts / "common.sh"
    working = server.read_text()
    # A release whose server step fails on the nodes after its delete purged MariaDB (as an
    # unreachable apt source would make it): the data stays without a server to run it.
    server.write_text('echo "database: this release fails here" >&2; exit 1\n' + working)
    with pytest.raises(auto.CommandError, match="this release fails here"):
        stack.up(on_output=print)
    for node in NODES:
        assert "is not installed" in on(node, "dpkg -s mariadb-server 2>&1", check=False), node

    # The next release, which also changes the shared helpers.
    server.write_text(working)
    common.write_text(common.read_text() + "# the release after\n")
    stack.up(on_output=print)
    for node in NODES:
        assert rows(node) == ["1", "2"], node


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
