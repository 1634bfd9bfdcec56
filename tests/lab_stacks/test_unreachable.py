"""A node that is off when `pulumi up` starts: preflight fails naming it, nothing else changes.

node3 is powered off; `pulumi up` of the whole platform fails in node3's preflight step, and node1
and node2 (which answer) are exactly as before: packages, services, files under /etc and /opt.
With node3 back, a plain `pulumi up` converges and a second changes nothing. About 1.5 minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import boot_node, halt_node, node_address
from tests.lab_stacks.faults import node_snapshot, node_steps, platform_stack

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

DOWN = "node3"
UP = ("node1", "node2")
# 5 dial attempts of up to 10 s with backoff between them (components/shared/remote.py), plus
# the engine.
FAIL_WITHIN_SECONDS = 120


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[auto.Stack]:
    with platform_stack("unreachable", tmp_path / "stack", DOWN) as stack:
        yield stack


def test_unreachable_node_fails_preflight_by_name_and_changes_nothing(
    platform: auto.Stack,
) -> None:
    before = {node: node_snapshot(node) for node in UP}
    halt_node(DOWN)
    started = time.monotonic()
    with pytest.raises(auto.CommandError) as failed:
        platform.up()
    took = time.monotonic() - started
    message = str(failed.value)
    assert took < FAIL_WITHIN_SECONDS, took
    # What the operator reads: the failing step is node3's preflight, with the SSH error.
    failing = [line for line in message.splitlines() if "error:" in line or "(preflight-" in line]
    assert any(f"preflight-{DOWN}" in line for line in failing), message
    assert f"{node_address('node3')}:22" in message, message
    assert not any(f"preflight-{node}" in line for node in UP for line in failing), message
    for node in UP:
        assert node_snapshot(node) == before[node], (node, message)
    # Only reads happened: no step that changes a node exists in the state.
    assert node_steps(platform) == [f"preflight-{node}" for node in UP]

    boot_node(DOWN)
    result = platform.up()
    assert result.summary.result == "succeeded"
    second = platform.up()
    assert {k: v for k, v in (second.summary.resource_changes or {}).items() if k != "same"} == {}
