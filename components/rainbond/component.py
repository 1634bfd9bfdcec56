"""The Rainbond Helm release, configured only from the other components' outputs."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.model import RainbondSpec

from ..build import BuildNodes
from ..database import Database
from ..gateway import Gateway
from ..kubernetes import KubernetesCluster
from ..registry import ImageRegistry
from .patches import RAINBOND_API, cluster_patches
from .values import DatabaseValues, RegistryValues, rainbond_values

RELEASE_NAME = "rainbond"
CHART_NAME = "rainbond"
# Pulling every Rainbond image on a fresh cluster takes a while.
_TIMEOUT_SECONDS = 1800
# Node annotations the operator reads to place rbd-gateway and rbd-chaos.
GATEWAY_ANNOTATION = "rainbond.io/gateway-node"
CHAOS_ANNOTATION = "rainbond.io/chaos-node"


def node_annotations(gateway: Gateway, build: BuildNodes) -> dict[str, dict[str, str]]:
    """Node name -> the annotations Rainbond reads: gateway nodes and build (chaos) nodes."""
    annotations: dict[str, dict[str, str]] = {}
    for members, key in ((gateway.members, GATEWAY_ANNOTATION), (build.members, CHAOS_ANNOTATION)):
        for node in members:
            annotations.setdefault(node, {})[key] = "true"
    return annotations


class RainbondRelease(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    status: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        spec: RainbondSpec,
        *,
        kubernetes: KubernetesCluster,
        gateway: Gateway,
        build: BuildNodes,
        registry: ImageRegistry,
        database: Database,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:rainbond:RainbondRelease", name, None, opts)
        # Server-side apply patches: each owns only its annotations, and deleting it removes them.
        patches = [
            k8s.core.v1.NodePatch(
                f"{name}-node-{node}",
                metadata=k8s.meta.v1.ObjectMetaPatchArgs(name=node, annotations=dict(values)),
                opts=pulumi.ResourceOptions(parent=self, provider=kubernetes.provider),
            )
            for node, values in node_annotations(gateway, build).items()
        ]
        connection = database.connection
        inputs: dict[str, Any] = {
            "vip": gateway.vip,
            "gateway_nodes": gateway.nodes,
            "build_nodes": build.nodes,
            "containerd_runtime_path": kubernetes.containerd_runtime_path,
            "registry": pulumi.Output.all(
                registry.push_domain, registry.namespace, registry.username, registry.password
            ).apply(lambda r: RegistryValues(registry.builtin, *r)),
            "database": None
            if connection is None
            else pulumi.Output.all(
                connection.host, connection.port, connection.user, connection.password
            ).apply(lambda d: DatabaseValues(*d)),
        }
        values = pulumi.Output.all(**inputs).apply(
            lambda resolved: rainbond_values(rainbond=spec, **resolved)
        )
        repository = spec.chart_is_repository
        self.release = k8s.helm.v3.Release(
            name,
            name=RELEASE_NAME,
            chart=CHART_NAME if repository else spec.chart,
            version=spec.chart_version if repository else None,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=spec.chart) if repository else None,
            namespace=spec.namespace,
            create_namespace=True,
            values=values,
            timeout=_TIMEOUT_SECONDS,
            skip_await=not spec.wait,
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=kubernetes.provider,
                # Components as dependencies: the release waits for every step inside them.
                depends_on=[kubernetes, gateway, build, registry, database, *patches],
            ),
        )
        self.status = self.release.status.status
        after_release = pulumi.ResourceOptions(
            parent=self, provider=kubernetes.provider, depends_on=[self.release]
        )
        for patch in cluster_patches(spec):
            k8s.apiextensions.CustomResourcePatch(
                f"{name}-{patch.name}",
                api_version=RAINBOND_API,
                kind=patch.kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=patch.name,
                    namespace=spec.namespace,
                    # The chart's manager (helm) owns these fields; the patch takes them over.
                    annotations={"pulumi.com/patchForce": "true"},
                ),
                spec=patch.spec,
                opts=after_release,
            )
        self.register_outputs({"status": self.status})
