"""The Kubernetes cluster Rainbond runs on: installed with RKE2, or an existing one."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_command import local, remote

from config import ClusterSpec, Role
from config.model import Rke2Kubernetes

from . import rke2_config
from .keepalived import keepalived_vip
from .passwords import generated_password
from .remote import SCRIPTS, Remote

RKE2_CONTAINERD = "/var/run/k3s/containerd"
API_PORT = 6443
_TOKEN_LENGTH = 48


def _current(kubeconfig: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user entries of a kubeconfig's current context (or its only cluster)."""
    document: dict[str, Any] = yaml.safe_load(kubeconfig)
    clusters = {entry["name"]: entry["cluster"] for entry in document.get("clusters", [])}
    users = {entry["name"]: entry.get("user") or {} for entry in document.get("users", [])}
    contexts = {entry["name"]: entry["context"] for entry in document.get("contexts", [])}
    current = contexts.get(document.get("current-context", ""))
    if current is None:
        return next(iter(clusters.values())), next(iter(users.values()), {})
    return clusters[current["cluster"]], users.get(current.get("user", ""), {})


def api_server(kubeconfig: str) -> str:
    """The API server URL of a kubeconfig's current context (or its only cluster)."""
    return str(_current(kubeconfig)[0]["server"])


def api_access(kubeconfig: str) -> dict[str, Any]:
    """What the node check needs to call the API: server, CA and credentials, as base64 data."""
    cluster, user = _current(kubeconfig)

    def data(entry: dict[str, Any], key: str) -> str | None:
        if entry.get(f"{key}-data"):
            return str(entry[f"{key}-data"])
        path = entry.get(key)
        return base64.b64encode(Path(path).expanduser().read_bytes()).decode() if path else None

    token = user.get("token")
    if token is None and user.get("tokenFile"):
        token = Path(user["tokenFile"]).expanduser().read_text().strip()
    return {
        "server": cluster["server"],
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "ca": data(cluster, "certificate-authority"),
        "cert": data(user, "client-certificate"),
        "key": data(user, "client-key"),
        "token": token,
    }


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
        trust: Mapping[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`trust`: node name -> the step after which that node trusts the image registry."""
        super().__init__("rainbond-ha:kubernetes:KubernetesCluster", name, None, opts)
        cluster = spec.kubernetes
        names = [node.name for node in spec.nodes if node.is_kubernetes_node]
        ready: list[pulumi.Resource] = []
        if isinstance(cluster, Rke2Kubernetes):
            self.kubeconfig = self._install_rke2(name, spec, cluster, steps, trust)
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
            ready.append(self._check_nodes(name, text, names))
        self.containerd_runtime_path = pulumi.Output.from_input(runtime_path)
        self.node_names = pulumi.Output.from_input(names)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            # Nothing is sent to a cluster that lacks the configured nodes.
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "apiEndpoint": self.api_endpoint,
                "nodeNames": self.node_names,
                "containerdRuntimePath": self.containerd_runtime_path,
            }
        )

    def _check_nodes(self, name: str, kubeconfig: str, names: list[str]) -> local.Command:
        """The API answers and has every configured node; one error names all missing ones.

        A local step rather than a read of each Node: reads fail one node at a time, and the
        check must run before any resource is sent to the cluster.
        """
        checker = (SCRIPTS / "kubernetes" / "check-nodes.py").read_text()
        return local.Command(
            f"{name}-nodes-check",
            interpreter=["python3", "-c", checker],
            create=json.dumps(names),
            stdin=pulumi.Output.secret(json.dumps(api_access(kubeconfig))),
            triggers=[hashlib.sha256(checker.encode()).hexdigest()],
            logging=local.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _install_rke2(
        self,
        name: str,
        spec: ClusterSpec,
        cluster: Rke2Kubernetes,
        steps: Remote,
        trust: Mapping[str, pulumi.Resource],
    ) -> pulumi.Output[str]:
        """RKE2 on every Kubernetes node. registries.yaml is the registry's trust step's, so each
        node's steps wait for that node's trust step: it is in place when RKE2 first starts.
        Only its own node's, so the graph grows linearly with the nodes."""
        masters = spec.with_role(Role.MASTER)
        by_name = {node.name: node for node in spec.nodes}

        def on(*nodes: str) -> Remote:
            return steps.after(*(trust[node] for node in nodes))

        api_vip: list[remote.Command] = []
        if cluster.api_keepalived is not None:
            api_vip = keepalived_vip(
                f"{name}-api-vip",
                instance="rainbond-api",
                nodes=masters,
                vip=IPv4Interface(cluster.api_address),
                interface=cluster.api_keepalived.interface,
                router_id=cluster.api_keepalived.virtual_router_id,
                steps=on(*(node.name for node in masters)),
                parent=self,
            )
        token = generated_password(f"{name}-token", self, _TOKEN_LENGTH)
        uploads = (
            {
                node.name: on(node.name).upload(
                    f"{name}-artifacts-{node.name}",
                    node,
                    cluster.artifacts_dir,
                    rke2_config.ARTIFACTS_DIR,
                    parent=self,
                )
                for node in spec.nodes
                if node.is_kubernetes_node
            }
            if cluster.artifacts_dir is not None
            else {}
        )

        def params(
            role: str, node_name: str, config: str, join: str
        ) -> dict[str, pulumi.Input[str]]:
            return {
                "ROLE": role,
                "VERSION": cluster.version,
                "NODE_NAME": node_name,
                "CONFIG": config,
                "ARTIFACTS": rke2_config.ARTIFACTS_DIR if uploads else "",
                "JOIN_ADDRESS": join,
                "API_PORT": str(API_PORT),
            }

        # Servers join one at a time, each after the previous one's API answers /readyz: etcd must
        # reach quorum with each new member before the next one joins.
        servers: list[remote.Command] = []
        for server, joins in rke2_config.join_order([node.name for node in masters]):
            node = by_name[server]
            join = "" if joins is None else str(by_name[joins].internal_address)
            config = rke2_config.server_config(
                node_name=server,
                node_ip=str(node.internal_address),
                api_address=cluster.api_host,
                join_address=join or None,
            )
            servers.append(
                on(server).step(
                    f"{name}-server-{server}",
                    node,
                    "kubernetes",
                    "rke2",
                    parent=self,
                    params=params("server", server, config, join),
                    stdin=token,
                    depends_on=[*(servers[-1:] or api_vip), *uploads.values()],
                )
            )
        agents = [
            on(node.name).step(
                f"{name}-agent-{node.name}",
                node,
                "kubernetes",
                "rke2",
                parent=self,
                params=params(
                    "agent",
                    node.name,
                    rke2_config.agent_config(
                        node_name=node.name,
                        node_ip=str(node.internal_address),
                        server_address=cluster.api_host,
                    ),
                    cluster.api_host,
                ),
                stdin=token,
                depends_on=[*servers, *uploads.values()],
            )
            for node in spec.nodes
            if node.is_kubernetes_node and not node.has(Role.MASTER)
        ]
        fetch = on(masters[0].name).step(
            f"{name}-kubeconfig",
            masters[0],
            "kubernetes",
            "kubeconfig",
            parent=self,
            params={"API_ADDRESS": cluster.api_host, "API_PORT": str(API_PORT)},
            secret_stdout=True,
            changes_node=False,
            depends_on=[*servers, *agents],
        )
        return pulumi.Output.secret(fetch.stdout)
