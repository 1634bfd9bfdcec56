"""The whole platform, in the order an operator would build it by hand.

1. Check every node (preflight); nothing changes a node before every check passed.
2. Give the gateway nodes their address (VIP or load balancer).
3. Run or reach the image registry, and make every node trust it.
4. Install or reach Kubernetes (each node after it trusts the registry).
5. Prepare the build nodes.
6. Run or reach the database.
7. Install Rainbond from the outputs of all of the above.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pulumi

from config import ClusterSpec, Role

from .build import BuildNodes
from .database import CONSOLE_DATABASE, REGION_DATABASE, Database
from .gateway import Gateway
from .kubernetes import KubernetesCluster
from .preflight import Preflight
from .rainbond import RainbondRelease
from .registry import ImageRegistry
from .shared.remote import Steps

CONSOLE_PORT = 7070


# The phases, each building one part from the configuration and what earlier phases made.


def preflight_phase(spec: ClusterSpec, opts: pulumi.ResourceOptions) -> tuple[Preflight, Steps]:
    """Preflight, and the steps that change nodes: each waits for its verdict."""
    nodes = Steps.to(spec.nodes, spec.logins)
    preflight = Preflight("preflight", spec, nodes, opts)
    return preflight, nodes.after(preflight.passed)


def gateway_phase(spec: ClusterSpec, steps: Steps, opts: pulumi.ResourceOptions) -> Gateway:
    members = spec.with_role(Role.GATEWAY)
    return Gateway("gateway", spec.gateway, members=members, steps=steps, opts=opts)


def registry_phase(
    spec: ClusterSpec, gateway: Gateway, steps: Steps, opts: pulumi.ResourceOptions
) -> ImageRegistry:
    servers = spec.with_role(Role.REGISTRY)
    return ImageRegistry(
        "registry",
        spec.registry,
        nodes=spec.nodes,
        server=servers[0] if servers else None,
        rke2=spec.kubernetes.mode == "rke2",
        vip=gateway.vip,
        steps=steps,
        opts=opts,
    )


def kubernetes_phase(
    spec: ClusterSpec, registry: ImageRegistry, steps: Steps, opts: pulumi.ResourceOptions
) -> KubernetesCluster:
    # RKE2 reads the registry configuration when it starts, so each node trusts it first.
    return KubernetesCluster(
        "kubernetes",
        spec.kubernetes,
        nodes=[node for node in spec.nodes if node.is_kubernetes_node],
        steps=steps,
        trust=registry.trust,
        opts=opts,
    )


def build_phase(spec: ClusterSpec, steps: Steps, opts: pulumi.ResourceOptions) -> BuildNodes:
    return BuildNodes("build", members=spec.with_role(Role.BUILD), steps=steps, opts=opts)


def database_phase(
    spec: ClusterSpec,
    pod_network: IPv4Network | None,
    steps: Steps,
    opts: pulumi.ResourceOptions,
) -> Database:
    return Database(
        "database",
        spec.database,
        nodes=spec.nodes,
        pod_network=pod_network,
        steps=steps,
        opts=opts,
    )


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
        preflight, steps = preflight_phase(spec, child)
        gateway = gateway_phase(spec, steps, child)
        registry = registry_phase(spec, gateway, steps, child)
        kubernetes = kubernetes_phase(spec, registry, steps, child)
        build = build_phase(spec, steps, child)
        database = database_phase(spec, kubernetes.pod_network, steps, child)
        RainbondRelease(
            "rainbond",
            spec.rainbond,
            kubernetes=kubernetes,
            gateway=gateway,
            build=build,
            registry=registry,
            database=database,
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
            "pushDomain": registry.push_domain,
            "namespace": registry.namespace,
            "username": registry.username,
            "password": registry.password,
        }
        self.database = {"mode": spec.database.mode}
        if database.connection is not None:
            self.database.update(
                database.connection.outputs(), databases=[CONSOLE_DATABASE, REGION_DATABASE]
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
