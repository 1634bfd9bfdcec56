"""Rules over the services the platform needs: database, registry and the Rainbond release."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..excerpt import kind
from ..findings import Finding, warning
from ..model import (
    BuiltinDatabase,
    BuiltinRegistry,
    DatabaseSpec,
    ExternalDatabase,
    ExternalRegistry,
    ManagedDatabase,
    ManagedRegistry,
    Node,
    RainbondSpec,
    RegistrySpec,
    Role,
)
from .registry import Rule, collector

RULES: list[Rule] = []
rule = collector(RULES)


@rule
def database_admin(database: DatabaseSpec) -> Iterator[Finding]:
    if isinstance(database, ExternalDatabase) and (database.admin_user is None) != (
        database.admin_password is None
    ):
        yield Finding(
            "database.adminUser",
            "adminUser and adminPassword go together",
            "set both to let the program create the databases, or neither",
        )


def _role_index(nodes: list[Node], role: Role) -> list[tuple[int, Node]]:
    return [(i, node) for i, node in enumerate(nodes) if node.has(role)]


def _referenced_node(path: str, name: str, nodes: list[Node], role: Role) -> Iterator[Finding]:
    node = next((n for n in nodes if n.name == name), None)
    if node is None:
        yield Finding(path, f"{name} is not a node", "use the name of a node in nodes")
    elif not node.has(role):
        yield Finding(path, f"node {name} lacks the role {role}", f"add {role} to its roles")


def _role_only_for(
    nodes: list[Node], role: Role, section: str, mode: str, in_mode: str
) -> Iterator[Finding]:
    if mode != in_mode:
        for i, _ in _role_index(nodes, role):
            yield Finding(
                f"nodes[{i}].roles",
                f"role {role} is only used when {section}.mode is {in_mode}",
                f"remove it, or set {section}.mode to {in_mode}",
            )


@rule
def database_nodes(nodes: list[Node], database: DatabaseSpec) -> Iterator[Finding]:
    yield from _role_only_for(nodes, Role.MYSQL, "database", database.mode, "managed")
    if isinstance(database, BuiltinDatabase):
        yield warning(
            "database.mode",
            "builtin runs one MySQL pod on one node; Rainbond stops when it fails",
            "use managed (source and replica) or an external HA database",
        )
    if not isinstance(database, ManagedDatabase):
        return
    referenced = [
        *_referenced_node("database.source", database.source, nodes, Role.MYSQL),
        *_referenced_node("database.replica", database.replica, nodes, Role.MYSQL),
    ]
    yield from referenced
    if referenced:
        return  # which mysql node was meant is then unclear: name no other one
    if database.source == database.replica:
        yield Finding(
            "database.replica",
            f"{database.replica} is also the source",
            "use another mysql node as the replica",
        )
        return  # the other mysql node is then most likely the intended replica
    for i, node in _role_index(nodes, Role.MYSQL):
        if node.name not in (database.source, database.replica):
            yield Finding(
                f"nodes[{i}].roles",
                f"node {node.name} has the role mysql but is neither source nor replica",
                "remove the role or name the node in database.source or database.replica",
            )


@rule
def registry_transport(registry: RegistrySpec) -> Iterator[Finding]:
    if isinstance(registry, ExternalRegistry) and registry.insecure:
        yield warning(
            "registry.insecure",
            "nodes will pull over plain HTTP or without checking the certificate; Rainbond's HA"
            " guide asks for an https registry, and builds pushed to an untrusted one fail on"
            " nodes that were not told to trust it",
            "serve the registry over https with a trusted certificate and set insecure: false",
        )


@rule
def registry_nodes(nodes: list[Node], registry: RegistrySpec) -> Iterator[Finding]:
    yield from _role_only_for(nodes, Role.REGISTRY, "registry", registry.mode, "managed")
    if isinstance(registry, BuiltinRegistry):
        yield warning(
            "registry.mode",
            "builtin keeps images on one node's disk behind goodrain.me",
            "use an external HA registry",
        )
    if not isinstance(registry, ManagedRegistry):
        return
    holders = _role_index(nodes, Role.REGISTRY)
    if len(holders) != 1:
        yield Finding(
            "nodes",
            f"{len(holders)} node(s) have the role registry; managed runs exactly one",
            "give the role registry to one node",
        )
    else:
        yield warning(
            "registry.mode",
            f"managed runs one registry on {holders[0][1].name}; image pulls fail while it is down",
            "use an external HA registry for production",
        )


@rule
def registry_address(registry: RegistrySpec) -> Iterator[Finding]:
    if isinstance(registry, ManagedRegistry) and registry.http_port == registry.port:
        yield Finding(
            "registry.httpPort",
            f"{registry.http_port} is also registry.port; the registry serves TLS on one and"
            " plain HTTP (for Rainbond's builds) on the other",
            "choose two ports",
        )
    domain = getattr(registry, "domain", None) or ""
    if domain.split(":")[0] == "goodrain.me":
        yield Finding(
            "registry.domain",
            "goodrain.me is Rainbond's builtin hub: its operator then runs rbd-hub behind the"
            " gateway and sends builds there, not to this registry",
            "name the registry otherwise, or use registry.mode: builtin",
        )


@rule
def rainbond_replicas(rainbond: RainbondSpec) -> Iterator[Finding]:
    if rainbond.replicas < 2:
        yield warning(
            "rainbond.replicas",
            f"{rainbond.replicas} replica of rbd-api, rbd-worker and rbd-hub is not HA",
            "use 2",
        )


def _mapping(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


@rule
def databases_together(rainbond: RainbondSpec) -> Iterator[Finding]:
    # The chart drops rbd-db as soon as either database is external, so one external database
    # alone leaves the other without a server.
    cluster = _mapping(rainbond.values, "Cluster")
    flags = {
        key: cluster[key]["enable"]
        for key in ("regionDatabase", "uiDatabase")
        if isinstance(_mapping(cluster, key), dict) and "enable" in cluster[key]
    }
    if flags and (len(flags) == 1 or flags["regionDatabase"] != flags["uiDatabase"]):
        yield Finding(
            "rainbond.values.Cluster",
            "regionDatabase.enable and uiDatabase.enable differ or only one is set",
            "leave both to database.mode, or set both to the same value",
        )


@rule
def operator_env(rainbond: RainbondSpec) -> Iterator[Finding]:
    # A Helm list replaces the chart's whole list, including the entry the operator needs.
    env = _mapping(_mapping(rainbond.values, "operator"), "env")
    if env is None:
        return
    if not isinstance(env, list):
        yield Finding(
            "rainbond.values.operator.env",
            f"is {kind(env)}, not a list",
            "write a list of {name, value} entries, or leave it out",
        )
    elif {"name": "DEPLOY_VERSION", "value": "helm"} not in env:
        yield Finding(
            "rainbond.values.operator.env",
            "replaces the operator's environment without DEPLOY_VERSION=helm",
            "add {name: DEPLOY_VERSION, value: helm} (and {name: DISABLE_LOG, value: 'true'})",
        )
