"""Reaching the lab: the guard that keeps packets to lab addresses on this machine, and SSH.

`require_lab_up()` must be called before anything contacts a lab address: without the bridge,
packets to the lab's subnet would follow the host's default route out of the machine.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .base import (
    BRIDGE,
    KNOWN_HOSTS,
    LAB_DIR,
    SSH_CONFIG,
    SSH_KEY,
    LabNotUp,
    node_root,
    run,
    step,
    write,
)
from .subnet import HOST_ADDR, PREFIX_LEN, SUBNET, SUBNET_NETWORK, node_address


def bridge_addresses() -> list[str]:
    try:
        out = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", BRIDGE], capture_output=True, text=True, check=False
        ).stdout
        data = json.loads(out or "[]")
    except (OSError, ValueError):
        return []
    addrs = []
    for link in data:
        if "UP" not in link.get("flags", []):
            continue
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                addrs.append(f"{a.get('local')}/{a.get('prefixlen')}")
    return addrs


def _route_dev(addr: str) -> str | None:
    """The device the kernel would use for addr (no packet is sent)."""
    try:
        out = subprocess.run(
            ["ip", "-j", "route", "get", addr], capture_output=True, text=True, check=False
        ).stdout
        data = json.loads(out or "[]")
    except (OSError, ValueError):
        return None
    return data[0].get("dev") if data else None


def lab_up_reason() -> str | None:
    """None when the lab's host interface is in place, else why not."""
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        return f"lab is not up: bridge {BRIDGE} does not exist (run: lab/lab up)"
    if f"{HOST_ADDR}/{PREFIX_LEN}" not in bridge_addresses():
        return (
            f"lab is not up: bridge {BRIDGE} is down or lacks {HOST_ADDR}/{PREFIX_LEN} "
            "(run: lab/lab up)"
        )
    dev = _route_dev(node_address("node1"))
    if dev != BRIDGE:
        return f"lab is not up: {SUBNET} is routed via {dev!r}, not {BRIDGE} (run: lab/lab up)"
    return None


def require_lab_up() -> None:
    """Raise LabNotUp ("lab is not up: ...") unless the lab's subnet is routed to the lab bridge."""
    reason = lab_up_reason()
    if reason:
        raise LabNotUp(reason)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    require_lab_up()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ssh_argv(node: str, *command: str, connect_timeout: int = 5) -> list[str]:
    """ssh argv that runs `command` on `node` as root with the lab key and the pinned host key."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(SSH_KEY),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={KNOWN_HOSTS}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        "LogLevel=ERROR",
        f"root@{node_address(node)}",
        "--",
        *command,
    ]


def ensure_ssh_key() -> None:
    if SSH_KEY.exists() and SSH_KEY.with_suffix(".pub").exists():
        return
    SSH_KEY.parent.mkdir(parents=True, exist_ok=True)
    SSH_KEY.parent.chmod(0o700)
    for p in (SSH_KEY, SSH_KEY.with_suffix(".pub")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rainbond-ha-lab", "-f", SSH_KEY])
    step(f"ssh: created lab key {SSH_KEY.relative_to(LAB_DIR.parent)}")


def write_known_hosts(names: Sequence[str]) -> None:
    lines = []
    for name in names:
        pub = (node_root(name) / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{name},{node_address(name)} {pub[0]} {pub[1]}\n")
    write(KNOWN_HOSTS, "".join(lines))
    hosts = "".join(f"Host {n}\n  HostName {node_address(n)}\n" for n in names)
    # ssh_config patterns are globs: the subnet's first three octets and a star.
    subnet_glob = str(SUBNET_NETWORK.network_address).rsplit(".", 1)[0] + ".*"
    write(
        SSH_CONFIG,
        "# ssh -F lab/.work/ssh_config node1\n"
        + hosts
        + f"Host node* {subnet_glob}\n  User root\n  IdentityFile {SSH_KEY}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {KNOWN_HOSTS}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n",
    )
