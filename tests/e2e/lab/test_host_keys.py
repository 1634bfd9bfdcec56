"""A node whose host key is not the pinned one stops the deploy before anything changes.

The stack pins every node through `ssh.knownHostsFile`, a copy of the lab's known_hosts in which
node2's key is replaced by node1's, as if node2 had been swapped for another machine. `pulumi up`
of every node-changing component fails fast, the error names node2 and a host key mismatch, the
preflight verdict never exists, so no step that changes a node runs, and the nodes' /etc, accounts
and enabled services are as before. About 20 seconds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import KNOWN_HOSTS, require_lab_up
from tests.e2e.engine import exported_state
from tests.e2e.lab.audit import differences, node_items
from tests.e2e.lab.harness import component_stack, lab_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODES = ("node1", "node2", "node3")
COMPONENTS = ["gateway", "registry", "build", "database"]


def known_hosts_with_node2_replaced(path: Path) -> None:
    keys = {line.split()[0].split(",")[0]: line.split(maxsplit=1) for line in _lines()}
    keys["node2"] = [keys["node2"][0], keys["node1"][1]]
    path.write_text("".join(f"{hosts} {key}\n" for hosts, key in keys.values()))


def _lines() -> list[str]:
    return [line for line in KNOWN_HOSTS.read_text().splitlines() if line.strip()]


@dataclass
class FailedUp:
    stack: auto.Stack
    known_hosts: Path
    error: str
    seconds: float
    before: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def failed_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedUp]:
    require_lab_up()
    where = tmp_path_factory.mktemp("hostkeys")
    known_hosts = where / "known_hosts"
    known_hosts_with_node2_replaced(known_hosts)
    ssh = {**lab_config()["rainbond-ha:ssh"], "knownHostsFile": str(known_hosts)}
    before = {node: node_items(node) for node in NODES}
    stack = component_stack("hostkeys", where, COMPONENTS, overrides={"ssh": ssh})
    lines: list[str] = []
    try:
        start = time.monotonic()
        with pytest.raises(auto.CommandError) as error:
            stack.up(on_output=lines.append)
        yield FailedUp(stack, known_hosts, str(error.value), time.monotonic() - start, before)
    finally:
        stack.destroy(on_output=lines.append)


def test_only_node2s_pin_is_wrong(failed_up: FailedUp) -> None:
    lab, scratch = _lines(), failed_up.known_hosts.read_text().splitlines()
    changed = [(ours, theirs) for ours, theirs in zip(lab, scratch, strict=True) if ours != theirs]
    assert len(lab) == 3 and len(changed) == 1, changed
    assert changed[0][0].startswith("node2,") and changed[0][1].startswith("node2,")


def test_up_fails_naming_node2_and_the_host_key(failed_up: FailedUp) -> None:
    failures = [line for line in failed_up.error.splitlines() if "command:remote:Command" in line]
    failures = [line for line in failures if " error: " in line]
    assert failures, failed_up.error
    for line in failures:
        # The resource names the node; "host key mismatch" is golang.org/x/crypto/ssh's wording,
        # which the stand-in and the real pulumi-command both pass on.
        assert "preflight-node2 " in line and "host key mismatch" in line, line
    assert failed_up.seconds < 60  # refused at once, not after dial retries


def test_preflight_never_passes_and_no_step_changes_a_node(failed_up: FailedUp) -> None:
    resources = json.loads(exported_state(failed_up.stack))["deployment"]["resources"]
    names = {r["urn"].split("::")[-1] for r in resources if r["type"].startswith("command:")}
    # Only node1's and node3's read-only facts (and their clock readings) got as far as the state.
    assert names <= {
        "preflight-node1",
        "preflight-node3",
        "preflight-node1-clock",
        "preflight-node3-clock",
    }, names
    assert "preflight-passed" not in names


def test_nodes_are_unchanged(failed_up: FailedUp) -> None:
    for node in NODES:
        assert differences(failed_up.before[node], node_items(node)) == {}, node
