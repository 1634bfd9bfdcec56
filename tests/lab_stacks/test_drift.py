"""Hand edits and stopped services on the lab, seen by `preview --refresh` and repaired by
`up --refresh`: one stack of the gateway pair, the managed registry and the MariaDB pair.

In order: right after up a refreshed preview changes nothing; keepalived.conf edited by hand is
left alone by a plain up, shown as an update of exactly its node's keepalived step, and put back
by up --refresh with the VIP held; a stopped MariaDB source is started again and replicates; an
edited registry config is put back and the registry answers; after each repair a refreshed
preview changes nothing; destroy removes the records. About 4 minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from pulumi import automation as auto

from components.keepalived import files as keepalived
from components.registry import files as registry
from components.shared.drift import MANIFESTS
from lab.labctl import require_lab_up
from tests.lab_stacks.audit import on
from tests.lab_stacks.gateway import holders, wait_for
from tests.lab_stacks.harness import component_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODES = ("node1", "node2", "node3")
REGISTRY_NODE = "node3"
REGISTRY_CONFIG = f"{registry.CONFIG_DIR}/config.yml"
SOURCE, REPLICA = "node1", "node2"
HAND_EDIT = "# edited by hand"


def planned(stack: auto.Stack) -> dict[str, str]:
    """What `pulumi preview --refresh` would do: resource name -> operation, changes only."""
    ops: dict[str, str] = {}

    def record(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op not in (auto.OpType.SAME, auto.OpType.REFRESH):
            ops[pre.metadata.urn.rsplit("::", 1)[-1]] = pre.metadata.op.value

    stack.preview(refresh=True, on_event=record)
    return ops


def changes(result: auto.UpResult) -> set[str]:
    return {auto.OpType(op).value for op in result.summary.resource_changes or {}} - {"same"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    require_lab_up()
    for node in NODES:
        left = on(node, f"ls -d {keepalived.MAIN_PATH} {MANIFESTS} 2>/dev/null || true")
        assert not left, f"{node} holds another stack's files: {left}"
    where = tmp_path_factory.mktemp("drift")
    created = component_stack("drift", where, ["gateway", "registry", "database"])
    try:
        created.up(on_output=print)
        yield created
    finally:
        created.destroy(on_output=print)


def test_no_drift_right_after_up(stack: auto.Stack) -> None:
    assert planned(stack) == {}


def test_an_edited_keepalived_conf_is_seen_and_put_back(stack: auto.Stack) -> None:
    before = on("node1", f"cat {keepalived.MAIN_PATH}")
    on("node1", f"echo '{HAND_EDIT}' >>{keepalived.MAIN_PATH}")

    # Without --refresh the engine never asks the nodes: nothing changes, the edit stays.
    assert changes(stack.up(on_output=print)) == set()
    assert HAND_EDIT in on("node1", f"cat {keepalived.MAIN_PATH}")

    assert planned(stack) == {"gateway-keepalived-node1": "update"}
    result = stack.up(refresh=True, on_output=print)
    assert (result.summary.resource_changes or {}).get(auto.OpType.UPDATE) == 1
    assert on("node1", f"cat {keepalived.MAIN_PATH}") == before
    assert on("node1", "systemctl is-active keepalived").strip() == "active"
    wait_for("one node holds the VIP", lambda: len(holders()) == 1, 10)
    assert planned(stack) == {}


def test_a_stopped_database_source_is_started_and_replicates(stack: auto.Stack) -> None:
    on(SOURCE, "systemctl stop mariadb")

    assert planned(stack) == {f"database-server-{SOURCE}": "update"}
    stack.up(refresh=True, on_output=print)
    assert on(SOURCE, "systemctl is-active mariadb").strip() == "active"
    marker = f"drift-{time.time_ns()}"
    on(
        SOURCE,
        "mariadb -N -B",
        "CREATE TABLE IF NOT EXISTS console.drift_test (marker VARCHAR(64));"
        f"INSERT INTO console.drift_test VALUES ('{marker}');",
    )
    position = on(SOURCE, "mariadb -N -B", "SELECT @@GLOBAL.gtid_binlog_pos").strip()
    waited = on(REPLICA, "mariadb -N -B", f"SELECT MASTER_GTID_WAIT('{position}', 60)").strip()
    assert waited == "0", f"{REPLICA} did not reach {position}"
    found = on(REPLICA, "mariadb -N -B", "SELECT marker FROM console.drift_test").split()
    assert marker in found
    assert planned(stack) == {}


def test_an_edited_registry_config_is_put_back(stack: auto.Stack) -> None:
    before = on(REGISTRY_NODE, f"cat {REGISTRY_CONFIG}")
    on(REGISTRY_NODE, f"echo '{HAND_EDIT}' >>{REGISTRY_CONFIG}")

    assert planned(stack) == {"registry-server": "update"}
    stack.up(refresh=True, on_output=print)
    assert on(REGISTRY_NODE, f"cat {REGISTRY_CONFIG}") == before
    assert on(REGISTRY_NODE, "systemctl is-active docker-registry").strip() == "active"
    assert planned(stack) == {}


def test_destroy_removes_the_records(stack: auto.Stack) -> None:
    stack.destroy(on_output=print)
    for node in NODES:
        assert on(node, f"ls -d {MANIFESTS} 2>/dev/null || true") == "", node
