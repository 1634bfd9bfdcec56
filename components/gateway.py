"""The address users reach Rainbond on: a keepalived VIP over the gateway nodes, or an LB."""

from __future__ import annotations

import pulumi

from config import ClusterSpec, Role
from config.model import KeepalivedGateway

from .keepalived import keepalived_vip
from .nodes import K8sNode, k8s_node
from .remote import Remote


class GatewayVip(pulumi.ComponentResource):
    vip: pulumi.Output[str]
    nodes: pulumi.Output[list[K8sNode]]

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        steps: Remote,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:gateway:GatewayVip", name, None, opts)
        gateway = spec.gateway
        members = spec.with_role(Role.GATEWAY)
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
        self.nodes = pulumi.Output.from_input([k8s_node(node) for node in members])
        self.register_outputs({"vip": self.vip, "nodes": self.nodes})
