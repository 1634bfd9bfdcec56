"""What the clusters this program installs (RKE2, kubeadm) share: each node's steps after its
registry trust step, keepalived holding the API address on the masters, and the air-gapped
artifacts copied to every node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface

import pulumi
from pulumi_command import local, remote

from config import Node
from config.model import InstalledKubernetes

from ..keepalived import keepalived_vip
from ..shared.remote import Steps

API_PORT = 6443


@dataclass(frozen=True)
class Installation:
    name: str
    steps: Steps
    # node name -> the step after which that node trusts the image registry
    trust: Mapping[str, pulumi.Resource]
    parent: pulumi.Resource

    def on(self, *names: str) -> Steps:
        """Steps that wait for these nodes' registry trust (only theirs, so the graph grows
        linearly with the nodes)."""
        return self.steps.after(*(self.trust[node] for node in names))

    def api_vip(
        self, kubernetes: InstalledKubernetes, masters: Sequence[Node]
    ) -> list[remote.Command]:
        """With apiKeepalived, keepalived on the masters holds apiAddress; the VIP follows a
        master whose API answers, armed like the gateway's check."""
        if kubernetes.api_keepalived is None:
            return []
        return keepalived_vip(
            f"{self.name}-api-vip",
            instance="rainbond-api",
            nodes=masters,
            vip=IPv4Interface(kubernetes.api_address),
            interface=kubernetes.api_keepalived.interface,
            router_id=kubernetes.api_keepalived.virtual_router_id,
            steps=self.on(*(node.name for node in masters)),
            parent=self.parent,
            check_readyz=API_PORT,
        )

    def uploads(
        self, artifacts_dir: str | None, nodes: Sequence[Node], target: str
    ) -> dict[str, local.Command]:
        """artifactsDir copied to `target` on every node; none without it."""
        if artifacts_dir is None:
            return {}
        return {
            node.name: self.on(node.name).upload(
                f"{self.name}-artifacts-{node.name}",
                node,
                artifacts_dir,
                target,
                parent=self.parent,
            )
            for node in nodes
        }
