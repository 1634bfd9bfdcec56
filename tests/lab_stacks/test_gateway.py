"""The keepalived gateway pair on the lab (node1, node2), from `pulumi up` to destroy.

In order: up, while sampling every process's argv on both nodes for the VRRP password; exactly
one node holds the VIP and it answers ping from the host; a stand-in gateway (an HTTP server on a
test port, the configured check port) starts on both nodes and arms their checks; stopping it on
the holder moves the VIP within 5 s, restarting it leaves the VIP where it went (nopreempt), and
sampling both nodes every 200 ms meanwhile never sees two holders; a second up changes nothing;
destroy leaves no keepalived config or enabled service. About 1.5 minutes.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.keepalived import files
from lab.labctl import VIP, require_lab_up, ssh_argv
from tests.lab_stacks.gateway import (
    GATEWAY_PORT,
    INSTANCE,
    NODES,
    armed_on,
    gateway,
    holders,
    on,
    ping,
    wait_for,
)
from tests.lab_stacks.harness import component_stack, lab_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

SAMPLE_SECONDS = 0.2


class Sampler(threading.Thread):
    """Reads the holders every `interval` seconds until stopped, keeping every reading."""

    def __init__(self, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.results: list[list[str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            self.results.append(holders())

    def stop(self) -> list[list[str]]:
        self.halt.set()
        self.join(timeout=30)
        return self.results


class ArgvWatch:
    """Every process's argv on the gateway nodes, every 100 ms, while it runs."""

    def __init__(self, where: Path) -> None:
        loop = "while :; do ps -eo args; sleep 0.1; done"
        self.files = {node: where / f"argv-{node}.txt" for node in NODES}
        self.processes = [
            subprocess.Popen(ssh_argv(node, loop), stdout=path.open("w"))
            for node, path in self.files.items()
        ]

    def stop(self) -> str:
        for process in self.processes:
            process.terminate()
            process.wait(timeout=10)
        return "".join(path.read_text() for path in self.files.values())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    require_lab_up()
    for node in NODES:
        assert not on(node, f"ls {files.MAIN_PATH} 2>/dev/null || true"), f"{node}: keepalived"
    section = {**lab_config()["rainbond-ha:gateway"], "checkPorts": [GATEWAY_PORT]}
    where = tmp_path_factory.mktemp("gateway")
    created = component_stack("gateway", where, ["gateway"], {"gateway": section})
    try:
        yield created
    finally:
        for node in NODES:
            gateway(node, running=False)
        created.destroy(on_output=print)


@pytest.fixture(scope="module")
def first_up(stack: auto.Stack, tmp_path_factory: pytest.TempPathFactory) -> auto.UpResult:
    watch = ArgvWatch(tmp_path_factory.mktemp("argv"))
    try:
        result = stack.up(on_output=print)
    finally:
        argv = watch.stop()
    password = on(NODES[0], f"sed -n 's/^ *auth_pass //p' {files.CONFIG_DIR}/{INSTANCE}.conf")
    assert len(password.strip()) == 8
    assert "ps -eo args" in argv and password.strip() not in argv
    return result


def test_up_leaves_one_holder_answering_ping(first_up: auto.UpResult) -> None:
    assert len(holders()) == 1
    assert ping(VIP)
    for node in NODES:
        assert on(node, "systemctl is-enabled keepalived").strip() == "enabled"
        # No gateway has answered yet: the checks pass without arming (the VIP came first).
        assert not armed_on(node)


def fail_over(holder: str, other: str) -> float:
    """Stops `holder`'s gateway: seconds until `other` holds the VIP. Then restarts it."""
    gateway(holder, running=False)
    moved = wait_for(f"the VIP moves to {other}", lambda: holders() == [other], 10)
    gateway(holder, running=True)
    return moved


def test_the_vip_leaves_a_failed_gateway_and_stays_where_it_went(first_up: auto.UpResult) -> None:
    preferred, second = NODES  # priorities 100 and 50
    for node in NODES:
        gateway(node, running=True)
    for node in NODES:
        wait_for(f"{node} arms its check", partial(armed_on, node), 15)
    sampler = Sampler(SAMPLE_SECONDS)
    sampler.start()
    try:
        if holders() == [second]:
            # Start from the preferred node, so that staying put below is nopreempt's doing.
            fail_over(second, preferred)
            time.sleep(3)  # the restarted gateway passes its check again (rise 2 x 1 s)
        moved = fail_over(preferred, second)
        print(f"the VIP moved from {preferred} to {second} in {moved:.1f} s")
        assert moved < 5, f"the VIP took {moved:.1f} s to move to {second}"
        # Long enough for the preferred node's check to pass again and, without nopreempt, for
        # its higher priority to take the VIP back.
        time.sleep(5)
        assert holders() == [second]
    finally:
        samples = sampler.stop()
    assert len(samples) >= 8 / SAMPLE_SECONDS * 0.8, "the sampler fell behind"
    assert all(len(sample) <= 1 for sample in samples), samples
    assert [preferred] in samples and [second] in samples
    assert ping(VIP)


def test_a_second_up_changes_nothing(stack: auto.Stack, first_up: auto.UpResult) -> None:
    result = stack.up(on_output=print)
    changes = result.summary.resource_changes or {}
    # Unchanged resources are never sent to the provider, so no step ran on a node.
    assert set(changes) == {"same"}, changes


def test_destroy_leaves_no_keepalived(stack: auto.Stack, first_up: auto.UpResult) -> None:
    stack.destroy(on_output=print)
    assert holders() == []
    for node in NODES:
        paths = f"{files.MAIN_PATH} {files.CONFIG_DIR} {files.STATE_DIR}"
        left = on(node, f"for path in {paths}; do [ ! -e $path ] || echo $path; done")
        assert left == "", f"{node}: {left}"
        enabled = on(node, "systemctl is-enabled keepalived 2>&1 || true").strip()
        assert enabled != "enabled", f"{node}: keepalived is {enabled}"
