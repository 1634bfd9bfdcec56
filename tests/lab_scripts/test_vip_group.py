"""A backup node leaving a keepalived group never holds the VIP beside the node that does.

The three lab nodes run one instance (no check), node1 holding its VIP. node3 leaves as the engine
orders it: node1's and node2's steps run with node3 gone from their peers, and node3's delete step
runs last. A node that stopped hearing adverts would take the VIP after about 3 s, so the VIP is
watched for longer than that between the steps and the delete. About 90 s, most of it installing
and removing keepalived on the three nodes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Interface

import pytest

from components.keepalived import files
from lab.labctl import PREFIX_LEN, address, node_address, require_lab_up
from tests.lab_scripts.keepalived import member, on, step
from tests.lab_stacks.gateway import holders

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODES = ("node1", "node2", "node3")
LEAVING = "node3"
PASSWORD = "Lab7grp0"
# One of the subnet's reserved addresses (lab/subnet.py), below test_api_vip.py's.
VIP = IPv4Interface(f"{address(8)}/{PREFIX_LEN}")
# Three missed adverts (advert_int 1) and VRRP's skew: a deaf backup claims the VIP by then.
TAKEOVER_SECONDS = 4


def instance(node: str, group: Sequence[str]) -> files.Instance:
    return member(node, group, VIP, "rainbond-group", 53)


def run(node: str, group: Sequence[str], delete: bool = False) -> str:
    """The node's step (or its delete step) for `group`, as the engine runs it; its output."""
    name = "vip-delete" if delete else "vip"
    result = step(instance(node, group), name, PASSWORD + "\n", node)
    assert result.returncode == 0, (node, result.stdout, result.stderr)
    return result.stdout


def vip_holders() -> list[str]:
    return holders(NODES, str(VIP.ip))


def held_by_one_throughout(seconds: float) -> list[list[str]]:
    """The holders sampled every 200 ms for `seconds`; the samples that were not exactly one."""
    wrong = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(now := vip_holders()) != 1:
            wrong.append(now)
        time.sleep(0.2)
    return wrong


@pytest.fixture(scope="module")
def group() -> Iterator[None]:
    require_lab_up()
    for node in NODES:
        assert on(node, f"test ! -e {files.MAIN_PATH}").returncode == 0, f"keepalived on {node}"
    try:
        for node in NODES:  # one after the other, node1 first: it takes the VIP
            run(node, NODES)
        yield
    finally:
        for node in NODES:
            step(instance(node, NODES), "vip-delete", PASSWORD, node)


def test_a_backup_leaving_the_group_never_holds_the_vip(group: None) -> None:
    assert held_by_one_throughout(TAKEOVER_SECONDS) == [] and vip_holders() == ["node1"]
    staying = tuple(n for n in NODES if n != LEAVING)
    for node in staying:
        output = run(node, staying)
        assert f"still sending adverts to {node_address(LEAVING)}" in output, output
    assert held_by_one_throughout(2 * TAKEOVER_SECONDS) == []
    run(LEAVING, NODES, delete=True)
    assert held_by_one_throughout(TAKEOVER_SECONDS) == [] and vip_holders() == ["node1"]
    kept = on("node1", f"grep -F '{node_address(LEAVING)}' {instance('node1', staying).path}")
    assert kept.stdout.split() == [node_address(LEAVING), *files.LEFT_MARK.split()]
    # The step's second run keeps the marked peer and changes nothing.
    assert "unchanged" in run("node1", staying)


def test_a_node_rejoining_is_an_ordinary_peer_again(group: None) -> None:
    run("node1", NODES)
    listed = on("node1", f"grep -F '{node_address(LEAVING)}' {instance('node1', NODES).path}")
    assert listed.stdout.split() == [node_address(LEAVING)]
