"""How Rainbond's values name a Kubernetes node."""

from __future__ import annotations

from typing import TypedDict

from config import Node


class K8sNode(TypedDict):
    name: str
    internalIP: str
    externalIP: str


def k8s_node(node: Node) -> K8sNode:
    return {
        "name": node.name,
        "internalIP": str(node.internal_address),
        "externalIP": str(node.external_ip),
    }
