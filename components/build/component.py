"""The nodes rbd-chaos builds on, with their cache and data directories prepared.

rbd-chaos runs on the nodes named in the release's `nodesForChaos` (`names`); the release also
annotates them `rainbond.io/chaos-node: "true"` once the cluster exists (see `rainbond/`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pulumi

from config import Node

from ..shared.k8s_nodes import K8sNode, k8s_node
from ..shared.remote import Scripts, Steps

# rbd-chaos mounts these host paths (operator controllers/handler/chaos.go).
CACHE_DIR = "/opt/rainbond/cache"
DATA_DIR = "/opt/rainbond/grdata"
PREPARE = Scripts(__file__)("prepare")


def spinning_dirs(stdout: str) -> list[str]:
    """The directories prepare.sh found on a rotational disk."""
    found = (line.split("\t") for line in stdout.splitlines() if line.startswith("rotational\t"))
    return [fields[1] for fields in found if fields[2:] == ["1"]]


class BuildNodes(pulumi.ComponentResource):
    nodes: pulumi.Output[list[K8sNode]]
    names: pulumi.Output[list[str]]
    # Known while the program runs, for resources made per build node.
    members: list[str]

    def __init__(
        self,
        name: str,
        *,
        members: Sequence[Node],
        steps: Steps,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:build:BuildNodes", name, None, opts)
        for node in members:
            step = steps.step(
                f"{name}-{node.name}",
                node,
                PREPARE,
                parent=self,
                params={"CACHE_DIR": CACHE_DIR, "DATA_DIR": DATA_DIR},
            )
            step.stdout.apply(functools.partial(self._warn, node.name))
        self.members = [node.name for node in members]
        self.nodes = pulumi.Output.from_input([k8s_node(node) for node in members])
        self.names = pulumi.Output.from_input(self.members)
        self.register_outputs({"nodes": self.nodes, "names": self.names})

    def _warn(self, node_name: str, stdout: str) -> None:
        spinning = spinning_dirs(stdout)
        if spinning:
            pulumi.log.warn(
                f"build node {node_name}: {', '.join(spinning)} on a rotational disk;"
                " builds are much faster on an SSD",
                resource=self,
            )
