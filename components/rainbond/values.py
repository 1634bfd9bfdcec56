"""The Rainbond chart's values, computed from the other components' resolved outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config.model import RainbondSpec

from ..database import CONSOLE_DATABASE, REGION_DATABASE
from ..shared.k8s_nodes import K8sNode


@dataclass(frozen=True)
class RegistryValues:
    builtin: bool
    domain: str
    namespace: str
    username: str
    password: str


@dataclass(frozen=True)
class DatabaseValues:
    host: str
    port: int
    user: str
    password: str


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, recursively for mappings; any other value (lists too) is replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gateway_entries(gateway_nodes: list[K8sNode], vip: str) -> list[K8sNode]:
    """nodesForGateway with every internalIP set to the VIP.

    Rainbond 6.9.3 reads only the first entry's internalIP, and only for `goodrain.me`: the
    chart's operator Deployment hostAliases (templates/deployment.yaml), the operator's
    hostAliases for rbd-chaos (InnerGatewayIngressIP, rainbond-operator
    api/v1alpha1/rainbondcluster_types.go, controllers/handler/common.go hostsAliases) and its
    hosts Job on every node (controllers/handler/hub.go hostsJob). Its gateway address comes
    from gatewayIngressIPs, set to the VIP too, and rbd-gateway is placed by node name
    (controllers/handler/apigateway.go). With the node's own address there, builds break while
    that one gateway node is down (docs/rainbond.md, item 9).
    """
    return [{**node, "internalIP": vip} for node in gateway_nodes]


def rainbond_values(
    *,
    rainbond: RainbondSpec,
    vip: str,
    gateway_nodes: list[K8sNode],
    build_nodes: list[K8sNode],
    containerd_runtime_path: str,
    registry: RegistryValues,
    database: DatabaseValues | None,
) -> dict[str, Any]:
    # operator.env replaces the chart's list, so DEPLOY_VERSION=helm must be repeated here;
    # DISABLE_LOG stops the operator sending pod logs to Rainbond's telemetry endpoint.
    env = [{"name": "DEPLOY_VERSION", "value": "helm"}, {"name": "DISABLE_LOG", "value": "true"}]
    if registry.builtin:
        # With imageHub off the operator keeps rbd-hub and gives it this password.
        env.append({"name": "RBD_HUB_PASSWORD", "value": registry.password})
        image_hub: dict[str, Any] = {"enable": False}
    else:
        image_hub = {
            "enable": True,
            "domain": registry.domain,
            "namespace": registry.namespace,
            "username": registry.username,
            "password": registry.password,
        }
    cluster: dict[str, Any] = {
        # One string: the chart wraps it in a one-element list itself.
        "gatewayIngressIPs": vip,
        "nodesForGateway": gateway_entries(gateway_nodes, vip),
        "nodesForChaos": build_nodes,
        # Set always: the chart's autodetection uses `lookup`, which has nothing to look at
        # before the release exists, and a wrong hostPath blocks the operator.
        "containerdRuntimePath": containerd_runtime_path,
        "imageHub": image_hub,
        "rainbondImageRepository": rainbond.image_repository,
        "installVersion": rainbond.install_version,
        "replicas": rainbond.replicas,
    }
    # Both databases or neither: the chart drops rbd-db as soon as one is enabled.
    for key, name in (("regionDatabase", REGION_DATABASE), ("uiDatabase", CONSOLE_DATABASE)):
        cluster[key] = (
            {
                "enable": True,
                "host": database.host,
                "port": database.port,
                "name": name,
                "username": database.user,
                "password": database.password,
            }
            if database is not None
            else {"enable": False}
        )
    return merge({"operator": {"env": env}, "Cluster": cluster}, rainbond.values)
