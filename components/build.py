"""The nodes rbd-chaos builds on, with their cache and data directories prepared."""

from __future__ import annotations

import pulumi

from config import ClusterSpec, Role

from .nodes import K8sNode, k8s_node
from .remote import Remote

# rbd-chaos mounts these host paths (operator controllers/handler/chaos.go).
CACHE_DIR = "/opt/rainbond/cache"
DATA_DIR = "/opt/rainbond/grdata"


class BuildNodes(pulumi.ComponentResource):
    nodes: pulumi.Output[list[K8sNode]]
    names: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        steps: Remote,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:build:BuildNodes", name, None, opts)
        members = spec.with_role(Role.BUILD)
        for node in members:
            steps.step(
                f"{name}-{node.name}",
                node,
                "build",
                "prepare",
                parent=self,
                params={"CACHE_DIR": CACHE_DIR, "DATA_DIR": DATA_DIR},
            )
        self.nodes = pulumi.Output.from_input([k8s_node(node) for node in members])
        self.names = pulumi.Output.from_input([node.name for node in members])
        self.register_outputs({"nodes": self.nodes, "names": self.names})
