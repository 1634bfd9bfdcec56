"""Upstream Kubernetes with kubeadm on every Kubernetes node: the API VIP, control planes one at a
time, then workers one at a time, then the kubeconfig fetched from the first control plane, the
pod network, and each worker's membership."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_command import remote

from config import Node, Role
from config.model import KubeadmKubernetes

from ..shared.remote import Scripts, Steps
from . import kubeadm_config as config
from .admin import Admin
from .etcd_snapshots import etcd_snapshot_steps
from .flannel import install_flannel
from .installed import API_PORT, Installation

KUBEADM = Scripts(__file__)("kubeadm", packages=True)
ARTIFACTS_DIR = "/var/lib/rainbond-ha/kubernetes-artifacts"
_CA_HASH = re.compile(r"^ca-cert-hash (sha256:[0-9a-f]{64})$", re.M)


def _ca_hash(stdout: str) -> str:
    found = _CA_HASH.findall(stdout or "")
    # Unknown until the first control plane has run (a preview of the first deployment).
    return found[-1] if found else ""


def _join_config(
    kubernetes: KubeadmKubernetes, node: config.NodeInfo, ca_hash: pulumi.Output[str]
) -> pulumi.Output[str]:
    return ca_hash.apply(lambda value: config.join_config(kubernetes, node, value))


def _random(
    name: str, parent: pulumi.Resource, length: int, *, lower: bool, special: str = ""
) -> pulumi.Output[str]:
    """`length` characters of digits, lower-case letters (with `lower`) and `special`."""
    return pulumi.Output.secret(
        random.RandomPassword(
            name,
            length=length,
            upper=False,
            lower=lower,
            special=bool(special),
            override_special=special or None,
            opts=pulumi.ResourceOptions(parent=parent),
        ).result
    )


def _bootstrap_token(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """kubeadm's token format, [a-z0-9]{6}.[a-z0-9]{16}."""
    id_, secret = (
        _random(f"{name}-token-{part}", parent, length, lower=True)
        for part, length in (("id", 6), ("secret", 16))
    )
    return pulumi.Output.concat(id_, ".", secret)


def _certificate_key(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The key that encrypts the control-plane certificates kubeadm uploads: 32 bytes, hex."""
    return _random(f"{name}-certificate-key", parent, 64, lower=False, special="abcdef")


@dataclass(frozen=True)
class KubeadmInstall:
    name: str
    kubernetes: KubeadmKubernetes
    parent: pulumi.Resource
    kubeconfig: pulumi.Output[str]
    admin: Admin
    workers: list[tuple[Node, remote.Command]]

    def finish(self, provider: k8s.Provider) -> None:
        """The pod network, then each worker's membership: a node is Ready only once the
        network runs on it."""
        network = install_flannel(self.name, self.kubernetes, provider, self.parent)
        self.admin.members(self.name, self.workers, self.parent, after=[network])


def install_kubeadm(
    name: str,
    kubernetes: KubeadmKubernetes,
    nodes: Sequence[Node],
    steps: Steps,
    trust: Mapping[str, pulumi.Resource],
    parent: pulumi.Resource,
) -> KubeadmInstall:
    """Every node running kubeadm's Kubernetes, and the kubeconfig; `finish` adds what needs
    the cluster's API."""
    masters = [node for node in nodes if node.has(Role.MASTER)]
    workers = [node for node in nodes if not node.has(Role.MASTER)]

    installation = Installation(name, steps, trust, parent)
    on = installation.on
    api_vip = installation.api_vip(kubernetes, masters)
    uploads = installation.uploads(kubernetes.artifacts_dir, nodes, ARTIFACTS_DIR)
    token = _bootstrap_token(name, parent)
    key = _certificate_key(name, parent)
    control_plane_stdin = pulumi.Output.all(token, key).apply(lambda s: f"{s[0]}\n{s[1]}\n")
    worker_stdin = token.apply(lambda t: f"{t}\n\n")
    containerd = config.containerd_config(kubernetes)
    bootstrap = masters[0]
    admin = Admin(
        bootstrap,
        on(bootstrap.name),
        kubectl="/usr/local/bin/kubectl",
        kubeconfig="/etc/kubernetes/admin.conf",
    )
    ca_hash: pulumi.Output[str] = pulumi.Output.from_input("")
    # Control planes change one at a time, each gated (in its script) on its own /readyz and every
    # etcd member's health; workers follow, one at a time too.
    chain: list[remote.Command] = []
    for node in [*masters, *workers]:
        control_plane = node.has(Role.MASTER)
        info = config.NodeInfo(node.name, str(node.internal_address), control_plane)
        role = "control-plane" if control_plane else "worker"
        first = node is bootstrap
        before = chain[-1:] or api_vip
        if not control_plane:
            # A worker holds no credentials to drain itself for an upgrade.
            before = [admin.upgrade_drain(name, node, kubernetes.version, parent, before)]
        params: dict[str, pulumi.Input[str]] = {
            "ROLE": role,
            "VERSION": kubernetes.version,
            "NODE_NAME": node.name,
            "ARTIFACTS": ARTIFACTS_DIR if uploads else "",
            "API_ENDPOINT": config.api_endpoint(kubernetes),
            "PEERS": " ".join(
                str(master.internal_address) for master in masters if master is not node
            )
            if control_plane
            else "",
            "BOOTSTRAP": "1" if first else "",
            "INIT_CONFIG": config.init_config(kubernetes, info) if first else "",
            # The first control plane has no hash to trust before it runs: it initialises, and
            # rejoining an existing cluster is a runbook (docs/kubernetes.md).
            "JOIN_CONFIG": "" if first else _join_config(kubernetes, info, ca_hash),
            "CONTAINERD_CONFIG": containerd,
            "SERVERS": " ".join(master.name for master in masters) if first else "",
        }
        step = on(node.name).step(
            f"{name}-{role}-{node.name}",
            node,
            KUBEADM,
            parent=parent,
            params=params,
            stdin=control_plane_stdin if control_plane else worker_stdin,
            depends_on=[*before, *uploads.values()],
        )
        if first:
            ca_hash = pulumi.Output.unsecret(step.stdout.apply(_ca_hash))
        chain.append(step)
    control_planes = list(zip(masters, chain[: len(masters)], strict=True))
    etcd_snapshot_steps(name, kubernetes.etcd_snapshots, control_planes, steps, parent)
    kubeconfig = admin.kubeconfig_step(name, kubernetes.api_host, API_PORT, parent, chain)
    members = list(zip(workers, chain[len(masters) :], strict=True))
    return KubeadmInstall(name, kubernetes, parent, kubeconfig, admin, members)
