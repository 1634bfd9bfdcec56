"""The lab's network: a bridge on the host, and one network namespace and veth pair per node."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from .access import bridge_addresses, lab_up_reason
from .base import BRIDGE, NETNS_PREFIX, LabError, run
from .subnet import DEAD_END, HOST_ADDR, PREFIX_LEN, node_address


def netns_name(name: str) -> str:
    return NETNS_PREFIX + name


def host_veth(name: str) -> str:
    return NETNS_PREFIX + name  # e.g. rbdlab-node1 (<= 15 chars up to node999)


def _link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", name]
    return subprocess.run(argv, capture_output=True).returncode == 0


def _sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", path).write_text(value)


def ensure_bridge() -> None:
    if not _link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    # Nothing from the lab is forwarded by the host, and the host offers no IPv6 on the lab.
    _sysctl(f"net/ipv6/conf/{BRIDGE}/disable_ipv6", "1")
    _sysctl(f"net/ipv4/conf/{BRIDGE}/forwarding", "0")
    if f"{HOST_ADDR}/{PREFIX_LEN}" not in bridge_addresses():
        run(["ip", "addr", "replace", f"{HOST_ADDR}/{PREFIX_LEN}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    reason = lab_up_reason()
    if reason:
        raise LabError(f"bridge {BRIDGE} set up but the guard still fails: {reason}")


def ensure_node_network(name: str) -> None:
    ns, veth = netns_name(name), host_veth(name)
    if not Path(f"/run/netns/{ns}").exists():
        run(["ip", "netns", "add", ns])
    if not _link_exists("host0", ns):
        if _link_exists(veth):
            run(["ip", "link", "del", veth])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "host0", "netns", ns])
        # A new host0 has a new MAC: forget the old one, or the host waits for it to go stale.
        run(["ip", "neigh", "flush", "to", node_address(name), "dev", BRIDGE], check=False)
    _sysctl(f"net/ipv6/conf/{veth}/disable_ipv6", "1")
    _sysctl(f"net/ipv4/conf/{veth}/forwarding", "0")
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "addr", "replace", f"{node_address(name)}/{PREFIX_LEN}", "dev", "host0"])
    run(["ip", "-n", ns, "link", "set", "host0", "up"])
    run(["ip", "-n", ns, "route", "replace", "default", "via", DEAD_END, "dev", "host0"])


def remove_node_network(name: str) -> None:
    if Path(f"/run/netns/{netns_name(name)}").exists():
        run(["ip", "netns", "delete", netns_name(name)], check=False)
    if _link_exists(host_veth(name)):
        run(["ip", "link", "del", host_veth(name)], check=False)


def existing_netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NETNS_PREFIX)]


def lab_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    devs = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [d for d in devs if d.startswith(NETNS_PREFIX) or d == BRIDGE]
