"""A keepalived VRRP instance holding one address on a group of nodes (gateway VIP, API VIP)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Interface

import pulumi
from pulumi_command import remote

from config import Node

from .passwords import generated_password
from .remote import Remote

# Rainbond's documented pair: every node BACKUP with nopreempt, the first preferred.
_FIRST_PRIORITY = 100
_OTHER_PRIORITY = 50
# VRRP's PASS authentication uses at most 8 characters.
_AUTH_LENGTH = 8


def keepalived_vip(
    name: str,
    *,
    instance: str,
    nodes: Sequence[Node],
    vip: IPv4Interface,
    interface: str,
    router_id: int,
    steps: Remote,
    parent: pulumi.Resource,
) -> list[remote.Command]:
    """One step per node; `instance` names the keepalived config so instances can share a node."""
    auth = generated_password(f"{name}-auth", parent, _AUTH_LENGTH)
    return [
        steps.step(
            f"{name}-{node.name}",
            node,
            "keepalived",
            "vip",
            parent=parent,
            params={
                "INSTANCE": instance,
                "VIP": str(vip),
                "INTERFACE": interface,
                "ROUTER_ID": str(router_id),
                "PRIORITY": str(_FIRST_PRIORITY if index == 0 else _OTHER_PRIORITY),
                "SOURCE_ADDRESS": str(node.internal_address),
                "PEERS": " ".join(str(n.internal_address) for n in nodes if n is not node),
            },
            stdin=auth,
        )
        for index, node in enumerate(nodes)
    ]
