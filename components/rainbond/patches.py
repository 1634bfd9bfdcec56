"""What the chart cannot be told through values, patched onto the objects it renders.

Each patch is a server-side apply of a few fields of an object of the release, after the
release: the operator reconciles the object and picks the fields up. Helm leaves them alone on
later upgrades as long as the chart's own text for them does not change: for a custom resource
it patches the live object with a merge patch between the old and new manifests only (helm
pkg/kube/client.go, createPatch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.model import RainbondSpec

RAINBOND_API = "rainbond.io/v1alpha1"
# The chart names its RainbondCluster `rainbondcluster` (templates/rainbondcluster_helm.yaml).
CLUSTER = "rainbondcluster"
# Components the chart pins to one replica that can safely run two (docs/rainbond.md, item 10).
TWO_REPLICAS = ("rbd-monitor",)


@dataclass(frozen=True)
class Patch:
    kind: str
    name: str
    spec: dict[str, Any]


def cluster_patches(rainbond: RainbondSpec) -> list[Patch]:
    patches = [Patch("RbdComponent", component, {"replicas": 2}) for component in TWO_REPLICAS]
    if rainbond.http_domain is not None:
        # The chart writes `suffixHTTPHost: ""` whatever the values say; the operator then sets
        # <VIP>.nip.io unless the field holds a domain (rainbond-operator
        # controllers/rainbondcluster_controller.go, v6.9.3-release).
        patches.append(Patch("RainbondCluster", CLUSTER, {"suffixHTTPHost": rainbond.http_domain}))
    return patches
