"""The gateway pair on the lab as a user sees it: the VIP holder, and a stand-in gateway."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterable

from components.keepalived import files
from lab.labctl import VIP, netns_name, ssh_argv

NODES = ("node1", "node2")
# Rainbond's gateway is not in this stack: a plain HTTP server on this port stands in for it.
GATEWAY_PORT = 18080
LISTENER = "rainbond-ha-e2e-gateway"
INSTANCE = "rainbond-gateway"
ARMED = f"{files.STATE_DIR}/{INSTANCE}.armed"


def on(node: str, command: str, check: bool = True) -> str:
    result = subprocess.run(ssh_argv(node, command), capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{node}: {command!r} failed: {result.stdout}{result.stderr}")
    return result.stdout


def holders(nodes: Iterable[str] = NODES, vip: str = VIP) -> list[str]:
    """The nodes with `vip` (the gateway's unless told) on host0, read from their network
    namespaces (milliseconds apart)."""
    found = []
    for node in nodes:
        out = subprocess.run(
            ["ip", "-n", netns_name(node), "-4", "-o", "addr", "show", "dev", "host0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if f" {vip}/" in out:
            found.append(node)
    return found


def wait_for(condition: str, predicate: Callable[[], object], timeout: float) -> float:
    """Seconds until `predicate()` holds, polled every 100 ms; fails after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{condition}: not within {timeout} s (holders: {holders()})")
        time.sleep(0.1)
    return time.monotonic() - start


def ping(address: str, timeout: float = 2) -> bool:
    """One ICMP echo from the host (which has no ping command), answered within `timeout`."""
    ident = os.getpid() & 0xFFFF
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    payload = b"rainbond-ha gateway test"  # an even length, for the 16-bit checksum
    total = sum(struct.unpack(f"!{len(header + payload) // 2}H", header + payload))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    packet = struct.pack("!BBHHH", 8, 0, checksum, ident, 1) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as raw:
        raw.settimeout(timeout)
        raw.sendto(packet, (address, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, (sender, _) = raw.recvfrom(1024)
            except TimeoutError:
                return False
            icmp = data[(data[0] & 0x0F) * 4 :]
            if sender == address and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
                return True
    return False


def armed_on(node: str) -> bool:
    return on(node, f"ls {ARMED} 2>/dev/null || true").strip() == ARMED


def gateway(node: str, running: bool) -> None:
    """Starts or stops the stand-in gateway; each start is a new transient unit, since a
    stopped one can stay loaded for a while."""
    if running:
        unit = f"{LISTENER}-{time.monotonic_ns()}"
        server = f"python3 -m http.server --bind 127.0.0.1 {GATEWAY_PORT}"
        on(node, f"systemd-run --quiet --collect --unit={unit} {server}")
    else:
        on(node, f"systemctl stop '{LISTENER}-*'", check=False)
