"""The gateway's keepalived step run on a lab node as the engine runs it; what the node shows."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from components.keepalived import files
from components.keepalived.vip import SCRIPT, node_params
from components.shared.remote import render
from lab.labctl import PREFIX_LEN, VIP, node_address, ssh_argv

NODE, PEER = "node1", "node2"
# The node's package ledger (components/shared/scripts/packages.sh): what each owner brought.
LEDGER = "/var/lib/rainbond-ha/packages"
PASSWORD = "Lab7test"
GATEWAY = files.Instance(
    name="rainbond-gateway",
    interface="host0",
    router_id=51,
    priority=100,
    vip=IPv4Interface(f"{VIP}/{PREFIX_LEN}"),
    source=IPv4Address(node_address(NODE)),
    peers=(IPv4Address(node_address(PEER)),),
    check_ports=(80, 443),
)


def member(
    node: str, group: Sequence[str], vip: IPv4Interface, name: str, router_id: int, **check: Any
) -> files.Instance:
    """`node`'s view of an instance shared by `group`, priority 100 on its first node."""
    return files.Instance(
        name=name,
        interface="host0",
        router_id=router_id,
        priority=100 if node == group[0] else 50,
        vip=vip,
        source=IPv4Address(node_address(node)),
        peers=tuple(IPv4Address(node_address(n)) for n in group if n != node),
        **check,
    )


def on(
    node: str, command: str, stdin: str = "", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ssh_argv(node, command), input=stdin, capture_output=True, text=True, timeout=timeout
    )


def step(
    spec: files.Instance, name: str = "vip", stdin: str = PASSWORD + "\n", node: str = NODE
) -> subprocess.CompletedProcess[str]:
    """Runs the node step `name` for `spec` on `node` (the spec's), as the engine would."""
    return on(
        node,
        render(SCRIPT.delete.text if name == "vip-delete" else SCRIPT.text, node_params(spec)),
        stdin,
    )


def text(command: str, node: str = NODE) -> str:
    result = on(node, command)
    assert result.returncode == 0, result.stderr
    return result.stdout
