"""The lab's addresses: the one place that names the subnet; everything else derives from it.

198.18.0.0/15 is reserved for benchmarking (RFC 2544): the lab never collides with a real network.
The host holds .1 on the lab bridge, .2 to .10 are reserved (.2 is the nodes' default gateway, which
nothing holds; .10 is the gateway pair's VIP), and node N is .(10 + N).
"""

from __future__ import annotations

import ipaddress
import re

SUBNET_NETWORK = ipaddress.IPv4Network("198.18.0.0/24")
SUBNET = str(SUBNET_NETWORK)
PREFIX_LEN = SUBNET_NETWORK.prefixlen
NODE_HOST_OFFSET = 10


def address(host: int) -> str:
    """The subnet's `host`-th address (1 is the host's side of the bridge)."""
    if not 0 < host < SUBNET_NETWORK.num_addresses - 1:
        raise ValueError(f"no host {host} in {SUBNET}")
    return str(SUBNET_NETWORK[host])


HOST_ADDR = address(1)
# Real servers have a default route, and Kubernetes needs one: a service address is routed before
# kube-proxy translates it. Nothing holds this address, so what takes the route goes nowhere.
DEAD_END = address(2)
VIP = address(NODE_HOST_OFFSET)  # reserved for the gateway pair; nodes start right after it


def node_name(index: int) -> str:
    return f"node{index}"


def node_index(name: str) -> int:
    m = re.fullmatch(r"node([1-9][0-9]*)", name)
    if not m:
        raise ValueError(f"not a lab node name: {name!r} (expected node1, node2, ...)")
    return int(m.group(1))


def node_address(name: str) -> str:
    """node1 -> .11, node2 -> .12, ..."""
    return address(NODE_HOST_OFFSET + node_index(name))
