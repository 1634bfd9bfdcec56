"""`pulumi destroy` of the whole platform leaves the nodes as the lab image made them.

Per node, before the deploy, after it and after destroy: every entry under /etc (type, mode, owner,
content hash or link target), the accounts in /etc/passwd and /etc/group, the installed packages
and the enabled unit files. After destroy, each node differs from what it was before the deploy,
and from the lab image itself (apart from the identity `lab up` gives it), only by the items
docs/operations.md lists under "What destroy leaves behind". Comparing with the image means
leftovers of earlier tests cannot hide in the "before". About 1 minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lab.labctl import node_root, require_lab_up
from tests.lab_stacks.audit import (
    LAB_IDENTITY,
    differences,
    documented_leftovers,
    etc_items,
    image_root,
    node_items,
    undocumented,
)
from tests.lab_stacks.harness import component_stack

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

NODES = ("node1", "node2", "node3")
# What the deploy must have put on each node, or the comparison after destroy proves nothing.
DEPLOYED = {
    "node1": ["/etc/keepalived/rainbond-ha/rainbond-gateway.conf", "unit:mariadb.service"],
    "node2": ["/etc/keepalived/rainbond-ha/rainbond-gateway.conf", "unit:mariadb.service"],
    "node3": ["/etc/docker/registry/config.yml", "unit:docker-registry.service"],
}


@dataclass
class Snapshots:
    before: dict[str, dict[str, str]]
    deployed: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    require_lab_up()
    before = {node: node_items(node) for node in NODES}
    stack = component_stack("destroyclean", tmp_path_factory.mktemp("destroyclean"), ["platform"])
    lines: list[str] = []
    try:
        stack.up(on_output=lines.append)
        deployed = {node: node_items(node) for node in NODES}
    finally:
        stack.destroy(on_output=lines.append)
    yield Snapshots(before, deployed, {node: node_items(node) for node in NODES})


def test_leftovers_are_documented() -> None:
    kept = documented_leftovers()
    assert "/etc/mysql/debian.cnf" in kept, kept


@pytest.mark.parametrize("node", NODES)
def test_the_deploy_changed_the_node(snapshots: Snapshots, node: str) -> None:
    assert set(DEPLOYED[node]) <= snapshots.deployed[node].keys()
    assert not set(DEPLOYED[node]) & snapshots.after[node].keys()


@pytest.mark.parametrize("node", NODES)
def test_destroy_restores_the_node(snapshots: Snapshots, node: str) -> None:
    assert undocumented(differences(snapshots.before[node], snapshots.after[node])) == {}


# On node1 and node2, keepalived (through libsnmp40) and MariaDB share libperl5.36,
# perl-modules-5.36 and libgdbm*: the package ledger removes them with whichever goes last.
@pytest.mark.parametrize("node", NODES)
def test_node_is_as_the_image_made_it(snapshots: Snapshots, node: str) -> None:
    image, now = (
        {k: v for k, v in etc_items(root).items() if k not in LAB_IDENTITY}
        for root in (image_root(node), node_root(node))
    )
    assert undocumented(differences(image, now)) == {}
