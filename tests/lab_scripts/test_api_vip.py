"""The API VIP's failover against a real process answering /readyz on 6443 on two lab nodes.

RKE2 cannot run in the lab, and the lab's kube-apiserver runs on the host, not on the nodes, so a
stand-in serves the API's place: `openssl s_server -WWW` on port 6443 of node1 and node2, serving
a file `readyz` holding `ok` (HTTPS, self-signed, as the check does not verify on loopback). The
real keepalived runs the rendered check (files.readyz_check_script). Stopping node1's stand-in
must move the VIP to node2 within 5 s. About 40 s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from ipaddress import IPv4Interface

import pytest

from components.keepalived import files
from lab.labctl import PREFIX_LEN, address, require_lab_up
from tests.lab_scripts.keepalived import member, on, step

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODES = ("node1", "node2")
PASSWORD = "Lab7api0"
# One of the subnet's reserved addresses (lab/subnet.py), not the gateway's.
VIP = IPv4Interface(f"{address(9)}/{PREFIX_LEN}")
STANDIN = "rainbond-ha-readyz-standin"
STANDIN_DIR = "/run/rainbond-ha-readyz-standin"
FAILOVER_SECONDS = 5


def instance(node: str) -> files.Instance:
    return member(node, NODES, VIP, "rainbond-api", 52, check_readyz=6443)


def start_standin(node: str) -> None:
    command = (
        f"mkdir -p {STANDIN_DIR} && cd {STANDIN_DIR} && printf ok > readyz && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-keyout key.pem -out cert.pem 2>/dev/null && "
        # A new unit each time: a stopped transient unit can stay loaded for a while.
        f"systemd-run --collect --unit {STANDIN}-{time.monotonic_ns()} "
        f"--working-directory {STANDIN_DIR} "
        "openssl s_server -quiet -accept 6443 -cert cert.pem -key key.pem -WWW"
    )
    result = on(node, command)
    assert result.returncode == 0, result.stderr


def stop_standin(node: str) -> None:
    on(node, f"systemctl stop '{STANDIN}-*' 2>/dev/null; true")


def is_armed(node: str) -> bool:
    return on(node, f"test -e {instance(node).armed_path}").returncode == 0


def holds_vip(node: str) -> bool:
    return f" {VIP.ip}/" in on(node, "ip -4 -o addr show dev host0").stdout


def wait_until(condition: Callable[[], bool], seconds: float) -> float:
    """Seconds until `condition()` held, or fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture(scope="module")
def pair() -> Iterator[None]:
    require_lab_up()
    for node in NODES:
        assert on(node, f"test ! -e {files.MAIN_PATH}").returncode == 0, f"keepalived on {node}"
    try:
        for node in NODES:
            start_standin(node)
        for node in NODES:  # one after the other, as the engine runs them
            result = step(instance(node), stdin=PASSWORD + "\n", node=node)
            assert result.returncode == 0, result.stdout + result.stderr
        yield
    finally:
        for node in NODES:
            step(instance(node), "vip-delete", PASSWORD + "\n", node)
            stop_standin(node)
            on(node, f"rm -rf {STANDIN_DIR}")


def test_the_vip_follows_the_api_that_answers(pair: None) -> None:
    first, second = NODES
    wait_until(lambda: holds_vip(first), 10)
    # Both checks arm themselves once their API has answered /readyz.
    for node in NODES:
        wait_until(partial(is_armed, node), 10)
    stop_standin(first)
    took = wait_until(lambda: holds_vip(second) and not holds_vip(first), FAILOVER_SECONDS)
    print(f"API VIP moved from {first} to {second} in {took:.1f} s")
    # Back: the API answers on node1 again, but nopreempt keeps the VIP on node2.
    start_standin(first)
    time.sleep(4)
    assert holds_vip(second) and not holds_vip(first)
