"""The whole platform: every component, wired in the order the nodes need them."""

from __future__ import annotations

from typing import Any

import pulumi

from config import ClusterSpec

from .build import BuildNodes
from .database import CONSOLE_DATABASE, REGION_DATABASE, MySQLReplication
from .gateway import GatewayVip
from .kubernetes import KubernetesCluster
from .preflight import Preflight
from .registry import ImageRegistry
from .release import RainbondRelease, node_annotations
from .remote import Remote

CONSOLE_PORT = 7070


class RainbondPlatform(pulumi.ComponentResource):
    console_url: pulumi.Output[str]
    gateway_vip: pulumi.Output[str]
    api_endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    preflight: pulumi.Output[dict[str, Any]]
    # Plain dicts of outputs, so a stack output hides the password and shows the rest.
    database: dict[str, pulumi.Input[Any]]
    registry: dict[str, pulumi.Input[Any]]

    def __init__(
        self, name: str, spec: ClusterSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("rainbond-ha:platform:RainbondPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        remote = Remote.for_cluster(spec)
        preflight = Preflight("preflight", spec, remote, child)
        steps = remote.after(preflight.passed)
        gateway = GatewayVip("gateway", spec, steps, child)
        registry = ImageRegistry("registry", spec, gateway.vip, steps, child)
        # RKE2 reads the registry configuration when it starts, so each node trusts it first.
        kubernetes = KubernetesCluster("kubernetes", spec, steps, registry.trust, child)
        build = BuildNodes("build", spec, steps, child)
        database = MySQLReplication("database", spec, steps, child)
        RainbondRelease(
            "rainbond",
            spec.rainbond,
            kubernetes=kubernetes,
            gateway=gateway,
            build=build,
            registry=registry,
            database=database,
            annotations=node_annotations(spec),
            opts=child,
        )
        self.console_url = gateway.vip.apply(lambda vip: f"http://{vip}:{CONSOLE_PORT}")
        self.gateway_vip = gateway.vip
        self.api_endpoint = kubernetes.api_endpoint
        self.kubeconfig = kubernetes.kubeconfig
        self.preflight = preflight.results
        self.registry = {
            "mode": spec.registry.mode,
            "domain": registry.domain,
            "namespace": registry.namespace,
            "username": registry.username,
            "password": registry.password,
        }
        self.database = {"mode": spec.database.mode}
        if database.connection is not None:
            self.database.update(
                vars(database.connection), databases=[CONSOLE_DATABASE, REGION_DATABASE]
            )
        self.register_outputs(
            {
                "consoleUrl": self.console_url,
                "gatewayVip": self.gateway_vip,
                "apiEndpoint": self.api_endpoint,
                "kubeconfig": self.kubeconfig,
                "database": self.database,
                "registry": self.registry,
                "preflight": self.preflight,
            }
        )
