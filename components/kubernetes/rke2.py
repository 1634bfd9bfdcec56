"""RKE2 on every Kubernetes node: the API VIP, servers one at a time, then agents, then the
kubeconfig fetched from the first server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Interface

import pulumi
from pulumi_command import remote

from config import Node, Role
from config.model import Rke2Kubernetes

from ..keepalived import keepalived_vip
from ..shared.passwords import generated_password
from ..shared.remote import Scripts, Steps
from . import files

API_PORT = 6443
_TOKEN_LENGTH = 48
RKE2 = Scripts(__file__)("rke2")
KUBECONFIG = Scripts(__file__)("kubeconfig")


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
    by_name = {node.name: node for node in nodes}

    def on(*names: str) -> Steps:
        return steps.after(*(trust[node] for node in names))

    api_vip: list[remote.Command] = []
    if kubernetes.api_keepalived is not None:
        api_vip = keepalived_vip(
            f"{name}-api-vip",
            instance="rainbond-api",
            nodes=masters,
            vip=IPv4Interface(kubernetes.api_address),
            interface=kubernetes.api_keepalived.interface,
            router_id=kubernetes.api_keepalived.virtual_router_id,
            steps=on(*(node.name for node in masters)),
            parent=parent,
        )
    token = generated_password(f"{name}-token", parent, _TOKEN_LENGTH)
    uploads = (
        {
            node.name: on(node.name).upload(
                f"{name}-artifacts-{node.name}",
                node,
                kubernetes.artifacts_dir,
                files.ARTIFACTS_DIR,
                parent=parent,
            )
            for node in nodes
        }
        if kubernetes.artifacts_dir is not None
        else {}
    )

    def params(role: str, node_name: str, config: str, join: str) -> dict[str, pulumi.Input[str]]:
        return {
            "ROLE": role,
            "VERSION": kubernetes.version,
            "NODE_NAME": node_name,
            "CONFIG": config,
            "ARTIFACTS": files.ARTIFACTS_DIR if uploads else "",
            "JOIN_ADDRESS": join,
            "API_PORT": str(API_PORT),
        }

    # Servers join one at a time, each after the previous one's API answers /readyz: etcd must
    # reach quorum with each new member before the next one joins.
    servers: list[remote.Command] = []
    for server, joins in files.join_order([node.name for node in masters]):
        node = by_name[server]
        join = "" if joins is None else str(by_name[joins].internal_address)
        config = files.server_config(
            node_name=server,
            node_ip=str(node.internal_address),
            api_address=kubernetes.api_host,
            join_address=join or None,
        )
        servers.append(
            on(server).step(
                f"{name}-server-{server}",
                node,
                RKE2,
                parent=parent,
                params=params("server", server, config, join),
                stdin=token,
                depends_on=[*(servers[-1:] or api_vip), *uploads.values()],
            )
        )
    agents = [
        on(node.name).step(
            f"{name}-agent-{node.name}",
            node,
            RKE2,
            parent=parent,
            params=params(
                "agent",
                node.name,
                files.agent_config(
                    node_name=node.name,
                    node_ip=str(node.internal_address),
                    server_address=kubernetes.api_host,
                ),
                kubernetes.api_host,
            ),
            stdin=token,
            depends_on=[*servers, *uploads.values()],
        )
        for node in nodes
        if not node.has(Role.MASTER)
    ]
    fetch = on(masters[0].name).step(
        f"{name}-kubeconfig",
        masters[0],
        KUBECONFIG,
        parent=parent,
        params={"API_ADDRESS": kubernetes.api_host, "API_PORT": str(API_PORT)},
        secret_stdout=True,
        changes_node=False,
        depends_on=[*servers, *agents],
    )
    return pulumi.Output.secret(fetch.stdout)
