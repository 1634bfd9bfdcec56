"""The Kubernetes cluster Rainbond runs on: installed with RKE2, or an existing one."""

from __future__ import annotations

from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_command import remote

from config import ClusterSpec, Role

from .keepalived import keepalived_vip
from .passwords import generated_password
from .remote import Remote

RKE2_CONTAINERD = "/var/run/k3s/containerd"
API_PORT = 6443
_TOKEN_LENGTH = 48


def api_server(kubeconfig: str) -> str:
    """The API server URL of a kubeconfig's current context (or its only cluster)."""
    document: dict[str, Any] = yaml.safe_load(kubeconfig)
    clusters = {entry["name"]: entry["cluster"] for entry in document.get("clusters", [])}
    contexts = {entry["name"]: entry["context"] for entry in document.get("contexts", [])}
    current = contexts.get(document.get("current-context", ""))
    cluster = clusters[current["cluster"]] if current else next(iter(clusters.values()))
    return str(cluster["server"])


class KubernetesCluster(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    api_endpoint: pulumi.Output[str]
    node_names: pulumi.Output[list[str]]
    containerd_runtime_path: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        steps: Remote,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:kubernetes:KubernetesCluster", name, None, opts)
        cluster = spec.kubernetes
        if cluster.mode == "rke2":
            self.kubeconfig = self._install_rke2(name, spec, steps)
            self.api_endpoint = pulumi.Output.from_input(f"https://{cluster.api_host}:{API_PORT}")
            runtime_path = RKE2_CONTAINERD
        else:
            text = (
                cluster.kubeconfig.get_secret_value()
                if cluster.kubeconfig is not None
                else Path(str(cluster.kubeconfig_path)).read_text()
            )
            self.kubeconfig = pulumi.Output.secret(text)
            self.api_endpoint = pulumi.Output.from_input(api_server(text))
            runtime_path = cluster.containerd_runtime_path
        self.containerd_runtime_path = pulumi.Output.from_input(runtime_path)
        self.node_names = pulumi.Output.from_input(
            [node.name for node in spec.nodes if node.is_kubernetes_node]
        )
        self.provider = k8s.Provider(
            f"{name}-provider", kubeconfig=self.kubeconfig, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "apiEndpoint": self.api_endpoint,
                "nodeNames": self.node_names,
                "containerdRuntimePath": self.containerd_runtime_path,
            }
        )

    def _install_rke2(self, name: str, spec: ClusterSpec, steps: Remote) -> pulumi.Output[str]:
        cluster = spec.kubernetes
        masters = spec.with_role(Role.MASTER)
        first = masters[0]
        api_vip: list[remote.Command] = []
        if cluster.api_keepalived is not None:
            api_vip = keepalived_vip(
                f"{name}-api-vip",
                instance="rainbond-api",
                nodes=masters,
                vip=IPv4Interface(cluster.api_address),
                interface=cluster.api_keepalived.interface,
                router_id=cluster.api_keepalived.virtual_router_id,
                steps=steps,
                parent=self,
            )
        token = generated_password(f"{name}-token", self, _TOKEN_LENGTH)

        def params(node_name: str, node_ip: str, join: str) -> dict[str, pulumi.Input[str]]:
            return {
                "VERSION": cluster.version,
                "NODE_NAME": node_name,
                "NODE_IP": node_ip,
                "API_ADDRESS": cluster.api_host,
                "JOIN_ADDRESS": join,
            }

        # Servers join one at a time: etcd must reach quorum with each member before the next.
        servers: list[remote.Command] = []
        for node in masters:
            join = "" if node is first else str(first.internal_address)
            servers.append(
                steps.step(
                    f"{name}-server-{node.name}",
                    node,
                    "kubernetes",
                    "rke2-server",
                    parent=self,
                    params=params(node.name, str(node.internal_address), join),
                    stdin=token,
                    depends_on=servers[-1:] or api_vip,
                )
            )
        agents = [
            steps.step(
                f"{name}-agent-{node.name}",
                node,
                "kubernetes",
                "rke2-agent",
                parent=self,
                params=params(node.name, str(node.internal_address), cluster.api_host),
                stdin=token,
                depends_on=servers,
            )
            for node in spec.nodes
            if node.is_kubernetes_node and not node.has(Role.MASTER)
        ]
        fetch = steps.step(
            f"{name}-kubeconfig",
            first,
            "kubernetes",
            "kubeconfig",
            parent=self,
            params={"API_ADDRESS": cluster.api_host, "API_PORT": str(API_PORT)},
            secret_stdout=True,
            changes_node=False,
            depends_on=[*servers, *agents],
        )
        return pulumi.Output.secret(fetch.stdout)
