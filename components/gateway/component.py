"""The address users reach Rainbond on: a keepalived VIP over the gateway nodes, or an LB."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from config import Node
from config.model import GatewaySpec, KeepalivedGateway

from ..keepalived import keepalived_vip
from ..shared.k8s_nodes import K8sNode, k8s_node
from ..shared.remote import Steps


class Gateway(pulumi.ComponentResource):
    vip: pulumi.Output[str]
    nodes: pulumi.Output[list[K8sNode]]
    # Known while the program runs, for resources made per gateway node.
    members: list[str]

    def __init__(
        self,
        name: str,
        gateway: GatewaySpec,
        *,
        members: Sequence[Node],
        steps: Steps,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:gateway:GatewayVip", name, None, opts)
        if isinstance(gateway, KeepalivedGateway):
            keepalived_vip(
                f"{name}-keepalived",
                instance="rainbond-gateway",
                nodes=members,
                vip=gateway.vip,
                interface=gateway.interface,
                router_id=gateway.virtual_router_id,
                steps=steps,
                parent=self,
                check_ports=gateway.check_ports,
            )
        self.vip = pulumi.Output.from_input(gateway.ingress_address)
        self.members = [node.name for node in members]
        self.nodes = pulumi.Output.from_input([k8s_node(node) for node in members])
        self.register_outputs({"vip": self.vip, "nodes": self.nodes})
