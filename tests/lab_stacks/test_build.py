"""Preflight and the build nodes on the lab, through the engine.

A lab with three faults at once (a foreign listener on node1's port 80, node2's machine-id on node1,
node3's hostname changed) fails preflight with each finding under its node, and nothing else runs;
the faults are undone in a finalizer, within seconds. A clean lab passes; the rbd-chaos directories
exist on the build nodes after `up`, a second `up` changes nothing, `destroy` removes them.
Takes about 1-2 minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import require_lab_up, ssh_argv
from tests.lab_stacks.harness import component_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

BUILD_NODES = ("node1", "node2")
BUILD_DIRS = ("/opt/rainbond/cache", "/opt/rainbond/grdata")
LISTENER_PID = "/run/rainbond-ha-preflight-test.pid"


def on(node: str, command: str, check: bool = True) -> str:
    result = subprocess.run(ssh_argv(node, command), capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"{node}: {command!r} failed: {result.stdout}{result.stderr}")
    return result.stdout.strip()


def existing(node: str, *paths: str) -> list[str]:
    listing = on(node, " ".join(f"[ ! -e {p} ] || echo {p};" for p in paths))
    return listing.split()


def wait_listening(node: str, port: int, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = on(node, f"ss -Hltnp 'sport = :{port}'")
        if line:
            return line
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {node}:{port} after {timeout} s")


def in_order(text: str, parts: list[str]) -> bool:
    position = 0
    for part in parts:
        position = text.find(part, position)
        if position < 0:
            return False
        position += len(part)
    return True


@pytest.fixture
def fresh_nodes() -> None:
    """The build directories are this test's to create: none may exist before."""
    require_lab_up()
    for node in BUILD_NODES:
        assert existing(node, *BUILD_DIRS) == [], f"{node} already has build directories"


@pytest.fixture
def faults(fresh_nodes: None) -> Iterator[dict[str, str]]:
    """node1: python3 on port 80 and node2's machine-id; node3: hostname x. Undone on exit."""
    machine_id = on("node1", "cat /etc/machine-id")
    twin = on("node2", "cat /etc/machine-id")
    hostname = on("node3", "hostname")
    try:
        on(
            "node1",
            "setsid python3 -m http.server -d /tmp 80 >/dev/null 2>&1 </dev/null &"
            f" echo $! > {LISTENER_PID}",
        )
        listener = wait_listening("node1", 80)
        on("node1", f"printf '%s\\n' {twin} > /etc/machine-id")
        on("node3", "hostname x")
        yield {"listener": listener, "twin": twin}
    finally:
        on("node3", f"hostname {hostname}", check=False)
        on("node1", f"printf '%s\\n' {machine_id} > /etc/machine-id", check=False)
        on("node1", f"kill $(cat {LISTENER_PID}) && rm {LISTENER_PID}", check=False)
    assert on("node1", "cat /etc/machine-id") == machine_id
    assert on("node3", "hostname") == hostname


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[auto.Stack]:
    stack = component_stack("build", tmp_path, ["build"])
    try:
        yield stack
    finally:
        stack.destroy()


def test_a_broken_lab_fails_preflight_listing_each_fault(
    stack: auto.Stack, faults: dict[str, str]
) -> None:
    # `faults` comes last so it is undone first, before the stack's destroy.
    with pytest.raises(auto.CommandError) as failed:
        stack.up()
    message = str(failed.value)
    twin = faults["twin"]
    pid = re.search(r"pid=(\d+)", faults["listener"])[1]  # type: ignore[index]
    expected = [
        "preflight failed: 4 error(s) on 3 node(s)",
        "node1:",
        f"  machine-id: machine-id {twin} is also node2's",
        f"  ports: port 80 is held by python3 (pid {pid})",
        "node2:",
        f"  machine-id: machine-id {twin} is also node1's",
        "node3:",
        "  hostname: hostname is 'x', not the node name 'node3'; Kubernetes names the node after",
    ]
    assert in_order(message, [line.strip() for line in expected]), message
    # Nothing past preflight ran: no build step in the state, no directory on any node.
    resources = (stack.export_stack().deployment or {}).get("resources", [])
    commands = {r["urn"].rsplit("::", 1)[1] for r in resources if "command:" in r["type"]}
    assert commands and all(name.startswith("preflight-") for name in commands), commands
    for node in BUILD_NODES:
        assert existing(node, *BUILD_DIRS) == []


def test_build_nodes_up_twice_then_destroy(fresh_nodes: None, stack: auto.Stack) -> None:
    had_parent = {node: bool(existing(node, "/opt/rainbond")) for node in BUILD_NODES}
    log: list[str] = []
    result = stack.up(on_output=log.append)
    output = "\n".join(log)
    assert re.search(r"NODE +CHECK +RESULT +DETAIL", output), output  # the table is logged
    preflight = result.outputs["preflight"].value
    assert sorted(preflight) == ["node1", "node2", "node3"]
    assert all(c["result"] != "error" for checks in preflight.values() for c in checks.values())
    assert result.outputs["buildNodes"].value == list(BUILD_NODES)
    for node in BUILD_NODES:
        assert existing(node, *BUILD_DIRS) == list(BUILD_DIRS)
    assert existing("node3", *BUILD_DIRS) == []

    again = stack.up()
    assert set(again.summary.resource_changes or {}) == {"same"}, again.summary.resource_changes

    stack.destroy()
    for node in BUILD_NODES:
        expected = ["/opt/rainbond"] if had_parent[node] else []
        assert existing(node, "/opt/rainbond", *BUILD_DIRS) == expected
