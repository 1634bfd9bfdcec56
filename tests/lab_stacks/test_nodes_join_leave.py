"""Nodes join and leave a running platform; only that node's steps are made or removed.

The lab grows a fourth node for this test (`lab/lab up --nodes 4`) and shrinks back after it. On
a whole-platform stack that serves (probes of tests/lab_stacks/rolling.py around every `up`): node4
joins as a build node and Kubernetes worker, then leaves; then joins the gateway group, takes the
VIP, and leaves holding it. Each join creates only node4's resources and updates others in place
at most, each leave deletes only node4's, node4 is then as destroy would leave it, the VIP never
has two holders nor an outage longer than one failover, and a further `up` changes nothing.
About 6 minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.labctl import node_address, require_lab_up
from tests.e2e.engine import PROJECT_ROOT
from tests.lab_stacks.audit import differences, node_items, undocumented
from tests.lab_stacks.gateway import holders, on, wait_for
from tests.lab_stacks.harness import lab_config, lab_nodes, set_section
from tests.lab_stacks.rolling import (
    GATEWAY_PORT,
    LISTENER,
    ONE_FAILOVER_SECONDS,
    Platform,
    rolled,
    serving_platform,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

NEW = "node4"
GATEWAY_GROUP = ("node1", "node2", NEW)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    require_lab_up()
    lab_nodes(4)
    try:
        with serving_platform("joinleave", tmp_path_factory.mktemp("joinleave"), PROJECT_ROOT) as p:
            yield p
    finally:
        lab_nodes(3)


def nodes_with(roles: list[str] | None) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = list(lab_config()["rainbond-ha:nodes"])
    if roles is not None:
        nodes.append({"name": NEW, "address": node_address(NEW), "roles": roles})
    return nodes


@pytest.fixture(scope="module")
def node4_before(platform: Platform) -> dict[str, str]:
    """node4 as the lab made it, before it joins."""
    return node_items(NEW)


def test_node4_joins_as_build_node_and_worker(
    platform: Platform, node4_before: dict[str, str]
) -> None:
    set_section(platform.stack, "nodes", nodes_with(["worker", "build"]))
    joined = rolled(platform, NEW)
    assert f"build-{NEW}" in joined.created and f"registry-trust-{NEW}" in joined.created
    assert not joined.deleted
    for report in joined.probes.reports.values():
        assert report.failures == 0, report


def test_node4_leaves_clean(platform: Platform, node4_before: dict[str, str]) -> None:
    set_section(platform.stack, "nodes", nodes_with(None))
    left = rolled(platform, NEW)
    assert f"build-{NEW}" in left.deleted and not left.created
    for report in left.probes.reports.values():
        assert report.failures == 0, report
    assert undocumented(differences(node4_before, node_items(NEW))) == {}


def take_vip(node: str) -> None:
    """Moves the gateway VIP to `node`: every other member's keepalived stops, so `node` is the
    only one left to take it, then starts again as a backup that, under nopreempt, leaves it
    there. (Stopping only the holder races the equal-priority backups for it.)"""
    others = [n for n in GATEWAY_GROUP if n != node]
    for other in others:
        on(other, "systemctl stop keepalived")
    wait_for(f"the VIP on {node}", lambda: holders(GATEWAY_GROUP) == [node], 15)
    for other in others:
        on(other, "systemctl start keepalived")
    time.sleep(3)
    assert holders(GATEWAY_GROUP) == [node]


def test_node4_joins_the_gateway_group(platform: Platform) -> None:
    server = f"python3 -m http.server --bind 0.0.0.0 {GATEWAY_PORT}"
    on(NEW, f"systemd-run --quiet --collect --unit={LISTENER} {server}")
    set_section(platform.stack, "nodes", nodes_with(["worker", "gateway"]))
    joined = rolled(platform, NEW)
    assert f"gateway-keepalived-{NEW}" in joined.created and not joined.deleted
    assert joined.report("gateway VIP").longest_outage <= ONE_FAILOVER_SECONDS
    # A backup's leave is tests/lab_scripts/test_vip_group.py's; here node4 leaves as the holder.
    take_vip(NEW)


def test_node4_leaves_the_gateway_group_holding_the_vip(
    platform: Platform, node4_before: dict[str, str]
) -> None:
    """The others drop node4 from their peers before node4's own delete stops its keepalived:
    the VIP keeps one holder, then moves once."""
    assert holders(GATEWAY_GROUP) == [NEW]
    set_section(platform.stack, "nodes", nodes_with(None))
    left = rolled(platform, NEW)
    assert f"gateway-keepalived-{NEW}" in left.deleted and not left.created
    assert left.report("gateway VIP").longest_outage <= ONE_FAILOVER_SECONDS
    assert len(holders(GATEWAY_GROUP)) == 1
    on(NEW, f"systemctl stop {LISTENER} || true")
    assert undocumented(differences(node4_before, node_items(NEW))) == {}


def test_a_further_up_changes_nothing(platform: Platform) -> None:
    result = platform.stack.up(on_output=print)
    assert set(result.summary.resource_changes or {}) == {"same"}
