"""The Kubernetes cluster Rainbond runs on: installed with RKE2 or kubeadm, or an existing one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from ipaddress import IPv4Network
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
from pulumi_command import local

from config import Node
from config.model import (
    InstalledKubernetes,
    KubeadmKubernetes,
    KubernetesSpec,
    Rke2Kubernetes,
)

from ..shared.remote import Steps
from .installed import API_PORT
from .kubeadm import KubeadmInstall, install_kubeadm
from .kubeconfig import api_access, api_server
from .rke2 import install_rke2

RKE2_CONTAINERD = "/var/run/k3s/containerd"
CONTAINERD = "/run/containerd"
# RKE2's default pod network. Pods reach a server on their own node from their pod address (no
# address translation on that path), so with RKE2 on a database node it must be allowed.
RKE2_POD_NETWORK = IPv4Network("10.42.0.0/16")
# Runs where pulumi runs, not on a node.
NODE_CHECK = Path(__file__).resolve().parent / "local" / "check-nodes.py"


class KubernetesCluster(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    api_endpoint: pulumi.Output[str]
    containerd_runtime_path: pulumi.Output[str]
    provider: k8s.Provider
    # The network pods reach node services from, when the program installs the cluster.
    pod_network: IPv4Network | None

    def __init__(
        self,
        name: str,
        kubernetes: KubernetesSpec,
        *,
        nodes: Sequence[Node],
        steps: Steps,
        trust: Mapping[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`nodes`: the Kubernetes nodes; `trust`: node name -> the step after which that node
        trusts the image registry."""
        super().__init__("rainbond-ha:kubernetes:KubernetesCluster", name, None, opts)
        names = [node.name for node in nodes]
        ready: list[pulumi.Resource] = []
        identifier: str | None = None
        kubeadm: KubeadmInstall | None = None
        if isinstance(kubernetes, KubeadmKubernetes):
            kubeadm = install_kubeadm(name, kubernetes, nodes, steps, trust, self)
            self.kubeconfig = kubeadm.kubeconfig
            runtime_path = CONTAINERD
            self.pod_network = kubernetes.pod_subnet
            identifier = f"kubeadm-{name}"
        elif isinstance(kubernetes, Rke2Kubernetes):
            self.kubeconfig = install_rke2(name, kubernetes, nodes, steps, trust, self)
            runtime_path = RKE2_CONTAINERD
            self.pod_network = RKE2_POD_NETWORK
            # The credential is fetched again every renewal period, and its text is unknown in a
            # preview until then; without an identifier the kubernetes provider would plan its own
            # replacement, and with it every release and patch on the cluster. One fixed
            # identifier: it is the same cluster whatever the kubeconfig says (pulumi-kubernetes
            # provider option clusterIdentifier; DiffConfig never replaces while it is unchanged).
            identifier = f"rke2-{name}"
        else:
            text = (
                kubernetes.kubeconfig.get_secret_value()
                if kubernetes.kubeconfig is not None
                else Path(str(kubernetes.kubeconfig_path)).read_text()
            )
            self.kubeconfig = pulumi.Output.secret(text)
            self.api_endpoint = pulumi.Output.from_input(api_server(text))
            runtime_path = kubernetes.containerd_runtime_path
            self.pod_network = None
            ready.append(self._check_nodes(name, text, names))
        if isinstance(kubernetes, InstalledKubernetes):
            self.api_endpoint = pulumi.Output.from_input(
                f"https://{kubernetes.api_host}:{API_PORT}"
            )
        self.containerd_runtime_path = pulumi.Output.from_input(runtime_path)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            cluster_identifier=identifier,
            # Nothing is sent to a cluster that lacks the configured nodes.
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
        if kubeadm is not None:
            kubeadm.finish(self.provider)
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "apiEndpoint": self.api_endpoint,
                "nodeNames": names,
                "containerdRuntimePath": self.containerd_runtime_path,
            }
        )

    def _check_nodes(self, name: str, kubeconfig: str, names: list[str]) -> local.Command:
        """The API answers and has every configured node; one error names all missing ones.

        A local step rather than a read of each Node: reads fail one node at a time, and the
        check must run before any resource is sent to the cluster.
        """
        checker = NODE_CHECK.read_text()
        return local.Command(
            f"{name}-nodes-check",
            interpreter=["python3", "-c", checker],
            create=json.dumps(names),
            stdin=pulumi.Output.secret(json.dumps(api_access(kubeconfig))),
            triggers=[hashlib.sha256(checker.encode()).hexdigest()],
            logging=local.Logging.STDOUT_AND_STDERR,
            opts=pulumi.ResourceOptions(parent=self),
        )
