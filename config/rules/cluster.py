"""Rules over the nodes, their roles and the addresses the cluster is reached on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from ipaddress import IPv4Interface

from ..findings import Finding, warning
from ..model import (
    ExistingKubernetes,
    GatewaySpec,
    InstalledKubernetes,
    KeepalivedGateway,
    KubernetesSpec,
    Node,
    Role,
    SshOptions,
    ssh_settings,
)
from .registry import Rule, collector

RULES: list[Rule] = []
rule = collector(RULES)


@rule
def one_kubeconfig(kubernetes: KubernetesSpec) -> Iterator[Finding]:
    if isinstance(kubernetes, ExistingKubernetes) and (kubernetes.kubeconfig is None) == (
        kubernetes.kubeconfig_path is None
    ):
        yield Finding(
            "kubernetes.kubeconfig",
            "mode existing needs exactly one of kubeconfig and kubeconfigPath",
            "set the secret kubeconfig or the path of a kubeconfig file",
        )


def _duplicates(values: Iterable[object]) -> set[object]:
    return {value for value, count in Counter(values).items() if count > 1}


@rule
def unique_nodes(nodes: list[Node], ssh: SshOptions) -> Iterator[Finding]:
    checks: list[tuple[str, Callable[[Node], object], str]] = [
        ("name", lambda n: n.name, "give every node its own Kubernetes node name"),
        ("internalAddress", lambda n: n.internal_address, "give every node its own address"),
        (
            "address",
            lambda n: (n.address, ssh_settings(n, ssh).port),
            "give every node its own SSH address and port",
        ),
    ]
    for key, value_of, right in checks:
        repeated = _duplicates(value_of(node) for node in nodes)
        for i, node in enumerate(nodes):
            value = value_of(node)
            if value in repeated:
                shown = node.address if key == "address" else value
                yield Finding(f"nodes[{i}].{key}", f"{shown} is used by another node too", right)


@rule
def masters_quorum(nodes: list[Node]) -> Iterator[Finding]:
    count = sum(node.has(Role.MASTER) for node in nodes)
    right = "give the role master to 3 or 5 nodes"
    if count == 0:
        yield Finding("nodes", "no node has the role master", right)
    # Only a warning: a stack going from 3 masters to 2 (one left or died) must still deploy.
    elif count < 3:
        yield warning(
            "nodes",
            f"{count} node(s) have the role master; etcd stops when any of them fails, so the"
            " cluster is not fault tolerant",
            right,
        )
    elif count % 2 == 0:
        yield warning(
            "nodes",
            f"{count} node(s) have the role master; etcd survives {(count - 1) // 2} lost, as"
            f" with {count - 1}, and needs one more member for quorum",
            right,
        )


@rule
def build_nodes(nodes: list[Node]) -> Iterator[Finding]:
    count = sum(node.has(Role.BUILD) for node in nodes)
    if count == 0:
        yield Finding("nodes", "no node has the role build", "give the role build to 2 nodes")
    elif count == 1:
        yield warning(
            "nodes",
            "only one node has the role build; builds stop when it fails",
            "give the role build to 2 nodes",
        )


# --- keepalived addresses -------------------------------------------------------------------------


def _vip_findings(
    path: str, vip: IPv4Interface, holders: list[Node], nodes: list[Node], who: str
) -> Iterator[Finding]:
    for node in nodes:
        if vip.ip in (node.internal_address, node.external_address) or str(vip.ip) == node.address:
            yield Finding(
                path,
                f"{vip.ip} is the address of node {node.name}",
                f"use a free address in the {who}' subnet",
            )
    if vip.network.prefixlen < 32:
        for node in holders:
            if node.internal_address not in vip.network:
                yield Finding(
                    path,
                    f"{vip} does not contain {node.name}'s address {node.internal_address}",
                    f"use an address in the subnet of the {who}",
                )


@rule
def gateway_vip(nodes: list[Node], gateway: GatewaySpec) -> Iterator[Finding]:
    gateways = [node for node in nodes if node.has(Role.GATEWAY)]
    if isinstance(gateway, KeepalivedGateway):
        if len(gateways) < 2:
            yield Finding(
                "nodes",
                f"{len(gateways)} node(s) have the role gateway; keepalived needs at least 2",
                "give the role gateway to 2 nodes",
            )
        yield from _vip_findings("gateway.vip", gateway.vip, gateways, nodes, "gateway nodes")
    elif not gateways:
        yield Finding("nodes", "no node has the role gateway", "give the role gateway to 2 nodes")
    elif len(gateways) == 1:
        yield warning(
            "nodes",
            "only one node has the role gateway; the load balancer has nothing to fail over to",
            "give the role gateway to 2 nodes",
        )


def _api_vip(kubernetes: InstalledKubernetes) -> IPv4Interface | None:
    try:
        return IPv4Interface(kubernetes.api_address)
    except ValueError:
        return None


@rule
def api_address(nodes: list[Node], kubernetes: KubernetesSpec) -> Iterator[Finding]:
    if not isinstance(kubernetes, InstalledKubernetes):
        return
    vip = _api_vip(kubernetes)
    masters = [node for node in nodes if node.has(Role.MASTER)]
    if kubernetes.api_keepalived is not None:
        if vip is None:
            yield Finding(
                "kubernetes.apiAddress",
                f"{kubernetes.api_address} is not an IPv4 address",
                "keepalived needs an IPv4 address, optionally with a /prefix",
            )
        else:
            yield from _vip_findings("kubernetes.apiAddress", vip, masters, nodes, "masters")
    elif vip is not None and any(vip.ip == node.internal_address for node in nodes):
        yield warning(
            "kubernetes.apiAddress",
            f"{vip.ip} is a node's own address; the API is unreachable when that node fails",
            "use a load balancer's address, or set kubernetes.apiKeepalived to hold a VIP",
        )


@rule
def api_beside_gateway(kubernetes: KubernetesSpec, gateway: GatewaySpec) -> Iterator[Finding]:
    """The API's VRRP instance and address must not collide with the gateway's."""
    if not isinstance(kubernetes, InstalledKubernetes):
        return
    api = kubernetes.api_keepalived
    if (
        api is not None
        and isinstance(gateway, KeepalivedGateway)
        and api.virtual_router_id == gateway.virtual_router_id
    ):
        yield Finding(
            "kubernetes.apiKeepalived.virtualRouterId",
            f"{gateway.virtual_router_id} is also gateway.virtualRouterId",
            "use a virtual router id that no other VRRP instance on the network uses",
        )
    # Two keepalived instances (or one and a load balancer) cannot hold one address.
    keepalived_gateway = isinstance(gateway, KeepalivedGateway)
    if (api is not None or keepalived_gateway) and kubernetes.api_host == gateway.ingress_address:
        yield Finding(
            "kubernetes.apiAddress",
            f"{kubernetes.api_host} is also gateway.{'vip' if keepalived_gateway else 'address'}",
            "give the Kubernetes API and the gateway an address each",
        )
