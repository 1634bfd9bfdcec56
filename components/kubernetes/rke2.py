"""RKE2 on every Kubernetes node: the API VIP, servers one at a time, then agents one at a time,
then the kubeconfig fetched from the first server."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pulumi
from pulumi_command import remote

from config import Node, Role
from config.model import Rke2Kubernetes

from ..shared.passwords import generated_password
from ..shared.remote import Scripts, Steps
from . import files
from .admin import Admin
from .installed import API_PORT, Installation

_TOKEN_LENGTH = 48
RKE2 = Scripts(__file__)("rke2")


def install_rke2(
    name: str,
    kubernetes: Rke2Kubernetes,
    nodes: Sequence[Node],
    steps: Steps,
    trust: Mapping[str, pulumi.Resource],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """The cluster's kubeconfig, once every node runs RKE2.

    registries.yaml is the registry's trust step's, so each node's steps wait for that node's
    trust step: it is in place when RKE2 first starts. Only its own node's, so the graph grows
    linearly with the nodes.
    """
    masters = [node for node in nodes if node.has(Role.MASTER)]

    installation = Installation(name, steps, trust, parent)
    on = installation.on
    api_vip = installation.api_vip(kubernetes, masters)
    token = generated_password(f"{name}-token", parent, _TOKEN_LENGTH)
    uploads = installation.uploads(kubernetes.artifacts_dir, nodes, files.ARTIFACTS_DIR)
    registration = kubernetes.api_host
    bootstrap = files.bootstrap_server([node.name for node in masters])

    def params(node: Node, role: str, config: str) -> dict[str, pulumi.Input[str]]:
        # The other servers matter to a server only (its bootstrap decision, its way out of the
        # cluster, dead servers to forget): agents are not updated when a server comes or goes.
        server = role == "server"
        return {
            "ROLE": role,
            "VERSION": kubernetes.version,
            "NODE_NAME": node.name,
            "CONFIG": config,
            "ARTIFACTS": files.ARTIFACTS_DIR if uploads else "",
            "REGISTRATION": registration,
            "PEERS": " ".join(
                str(master.internal_address) for master in masters if master is not node
            )
            if server
            else "",
            "BOOTSTRAP": "1" if node.name == bootstrap else "",
            "API_PORT": str(API_PORT),
            "SUPERVISOR_PORT": str(files.SUPERVISOR_PORT),
            "S3_SECRET_FILE": files.S3_SECRET_FILE,
            "TRUST_DIGEST": trust_digest(trust[node.name]),
            "SERVERS": " ".join(master.name for master in masters) if server else "",
        }

    s3 = kubernetes.etcd_snapshots.s3
    s3_line = files.s3_secret_config(s3.secret_key.get_secret_value() if s3 else "")
    server_stdin: pulumi.Output[str] = token.apply(lambda value: f"{value}\n{s3_line}\n")
    snapshots = snapshot_settings(kubernetes)
    # Servers change one at a time, each gated (in its script) on its own /readyz and every etcd
    # member's health before the next one starts; agents follow, one at a time too.
    agents = [node for node in nodes if not node.has(Role.MASTER)]
    chain: list[remote.Command] = []
    for node in [*masters, *agents]:
        server = node.has(Role.MASTER)
        address = str(node.internal_address)
        config = (
            files.server_config(
                node_name=node.name,
                node_ip=address,
                api_address=registration,
                snapshots=snapshots,
            )
            if server
            else files.agent_config(
                node_name=node.name, node_ip=address, server_address=registration
            )
        )
        role = "server" if server else "agent"
        chain.append(
            on(node.name).step(
                f"{name}-{role}-{node.name}",
                node,
                RKE2,
                parent=parent,
                params=params(node, role, config),
                stdin=server_stdin if server else token,
                depends_on=[*(chain[-1:] or api_vip), *uploads.values()],
            )
        )
    # Each agent's membership is kept from the first server.
    admin = Admin(
        masters[0],
        on(masters[0].name),
        kubectl="/var/lib/rancher/rke2/bin/kubectl",
        kubeconfig="/etc/rancher/rke2/rke2.yaml",
    )
    members = admin.members(name, list(zip(agents, chain[len(masters) :], strict=True)), parent)
    return admin.kubeconfig_step(name, registration, API_PORT, parent, [*chain, *members])


def snapshot_settings(kubernetes: Rke2Kubernetes) -> files.Snapshots:
    snapshots = kubernetes.etcd_snapshots
    s3 = snapshots.s3
    if s3 is None:
        return files.Snapshots(schedule=snapshots.schedule, retention=snapshots.retention)
    return files.Snapshots(
        schedule=snapshots.schedule,
        retention=snapshots.retention,
        s3_bucket=s3.bucket,
        s3_endpoint=s3.endpoint,
        s3_region=s3.region,
        s3_folder=s3.folder,
        s3_access_key=s3.access_key,
        s3_insecure=s3.insecure,
    )


def trust_digest(step: pulumi.Resource) -> pulumi.Output[str]:
    """Changes when the node's registry trust step writes something else (its command or its
    stdin, which carries registries.yaml), so the RKE2 step runs again and reloads containerd's
    registry configuration. A short digest of text holding a long generated password reveals
    nothing of it, so it is not kept secret: a secret parameter would hide the whole command
    from the preview."""
    if not isinstance(step, remote.Command):
        return pulumi.Output.from_input("")
    both = pulumi.Output.all(step.create, step.stdin)
    digest = both.apply(lambda parts: hashlib.sha256(repr(parts).encode()).hexdigest()[:16])
    return pulumi.Output.unsecret(digest)
