"""A keepalived VRRP instance holding one address on a group of nodes (gateway VIP, API VIP)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Interface

import pulumi
from pulumi_command import remote

from config import Node

from ..shared.drift import Owned
from ..shared.passwords import generated_password
from ..shared.remote import Scripts, Steps
from . import files

# Rainbond's documented pair: every node BACKUP with nopreempt, the first preferred.
_FIRST_PRIORITY = 100
_OTHER_PRIORITY = 50
# VRRP's PASS authentication uses at most 8 characters.
_AUTH_LENGTH = 8
# arping counts the nodes answering for the VIP, which is how a step knows exactly one holds it.
_PACKAGES = "keepalived iputils-arping"
# A fresh pair elects a holder within about 4 s (3 missed adverts plus skew).
_HOLDER_WAIT_SECONDS = 60
SCRIPT = Scripts(__file__)("vip", packages=True)


def keepalived_vip(
    name: str,
    *,
    instance: str,
    nodes: Sequence[Node],
    vip: IPv4Interface,
    interface: str,
    router_id: int,
    steps: Steps,
    parent: pulumi.Resource,
    check_ports: Sequence[int] = (),
    check_readyz: int | None = None,
) -> list[remote.Command]:
    """One step per node, one node after the other; each is done when exactly one node of the
    group holds the VIP.

    `instance` names the instance's files, so instances can share a node. With `check_ports`
    the VIP leaves a node whose local service stops accepting them, once it has accepted them
    (files.check_script); with `check_readyz` once the local API's /readyz has answered
    (files.readyz_check_script).
    """
    auth = generated_password(f"{name}-auth", parent, _AUTH_LENGTH)
    commands: list[remote.Command] = []
    for index, node in enumerate(nodes):
        spec = files.Instance(
            name=instance,
            interface=interface,
            router_id=router_id,
            priority=_FIRST_PRIORITY if index == 0 else _OTHER_PRIORITY,
            vip=vip,
            source=node.internal_address,
            peers=tuple(n.internal_address for n in nodes if n is not node),
            check_ports=tuple(check_ports),
            check_readyz=check_readyz,
        )
        commands.append(
            steps.step(
                f"{name}-{node.name}",
                node,
                SCRIPT,
                parent=parent,
                params=node_params(spec),
                stdin=auth,
                owns=Owned(files=owned_files(spec), services=("keepalived",)),
                # One node at a time: the pair keeps a node with a running keepalived while
                # the other one changes.
                depends_on=commands[-1:],
            )
        )
    return commands


def owned_files(spec: files.Instance) -> tuple[str, ...]:
    """The files the node step writes for this instance; a refresh reports a hand edit."""
    check = (spec.check_path,) if spec.checked else ()
    return (files.MAIN_PATH, spec.path, *check)


def node_params(spec: files.Instance) -> dict[str, str]:
    """What the node step needs: the instance's rendered files and where they go."""
    return {
        "INSTANCE": spec.name,
        "INTERFACE": spec.interface,
        "VIP_ADDRESS": str(spec.vip.ip),
        "SOURCE_ADDRESS": str(spec.source),
        # curl asks /readyz; the gateway's check needs nothing more than bash.
        "PACKAGES": f"{_PACKAGES} curl" if spec.check_readyz is not None else _PACKAGES,
        "WAIT_SECONDS": str(_HOLDER_WAIT_SECONDS),
        "MAIN_PATH": files.MAIN_PATH,
        "MAIN_TEXT": files.main_config(),
        "MANAGED_MARK": files.MANAGED_MARK,
        "CONFIG_DIR": files.CONFIG_DIR,
        "STATE_DIR": files.STATE_DIR,
        "INSTANCE_PATH": spec.path,
        "INSTANCE_TEXT": files.instance_config(spec),
        "AUTH_PLACEHOLDER": files.AUTH_PLACEHOLDER,
        "LEFT_MARK": files.LEFT_MARK,
        "CHECK_PATH": spec.check_path,
        "CHECK_TEXT": files.check_script(spec) if spec.checked else "",
        "ARMED_PATH": spec.armed_path,
    }
