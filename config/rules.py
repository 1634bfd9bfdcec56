"""Rules that relate config sections to each other, checked after each section has its shape.

A rule is a generator function whose parameter names are the sections it reads (`nodes`, `ssh`,
`kubernetes`, `gateway`, `registry`, `database`, `rainbond`, `preflight`) and, optionally, `files`
(how to treat referenced files that do not exist). It runs only when every section it names parsed,
so a broken section does not drown the report in follow-on errors.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

from . import known_hosts
from .model import (
    DatabaseSpec,
    GatewaySpec,
    KubernetesSpec,
    Node,
    RainbondSpec,
    RegistrySpec,
    Role,
    SshDefaults,
    SshOptions,
    ssh_settings,
)


class Level(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    path: str
    wrong: str
    right: str
    level: Level = Level.ERROR

    @property
    def message(self) -> str:
        return f"{self.path}: {self.wrong}; {self.right}"

    def __str__(self) -> str:
        return f"warning: {self.message}" if self.level is Level.WARNING else self.message


def warning(path: str, wrong: str, right: str) -> Finding:
    return Finding(path, wrong, right, Level.WARNING)


class Files(Enum):
    """A missing key, kubeconfig or chart file blocks a deployment but not a review of the file."""

    REQUIRED = "required"
    WARN = "warn"


Rule = Callable[..., Iterable[Finding]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def run_rules(sections: Mapping[str, Any], files: Files) -> list[Finding]:
    """Runs every rule whose sections are all present in `sections`."""
    available = {**sections, "files": files}
    findings: list[Finding] = []
    for fn in RULES:
        names = inspect.signature(fn).parameters
        if all(name in available for name in names):
            findings.extend(fn(**{name: available[name] for name in names}))
    return findings


# --- mode-dependent keys ------------------------------------------------------------------------

# For each section and mode: the keys that must be set, and the keys that may be set. Keys with
# defaults that only one mode reads are listed under that mode's optional keys.
MODE_KEYS: dict[str, dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    "kubernetes": {
        "rke2": (
            frozenset({"apiAddress"}),
            frozenset({"version", "apiKeepalived", "artifactsDir", "etcdSnapshots"}),
        ),
        "existing": (
            frozenset(),
            frozenset({"kubeconfig", "kubeconfigPath", "containerdRuntimePath"}),
        ),
    },
    "gateway": {
        "keepalived": (
            frozenset({"vip", "interface", "virtualRouterId"}),
            frozenset({"checkPorts"}),
        ),
        "external": (frozenset({"address"}), frozenset()),
    },
    "registry": {
        "builtin": (frozenset(), frozenset()),
        "external": (
            frozenset({"domain", "username", "password"}),
            frozenset({"namespace", "insecure"}),
        ),
        "managed": (
            frozenset(),
            frozenset({"domain", "namespace", "username", "port", "s3", "deleteDataOnDestroy"}),
        ),
    },
    "database": {
        "builtin": (frozenset(), frozenset()),
        "external": (
            frozenset({"host", "password"}),
            frozenset({"port", "user", "adminUser", "adminPassword"}),
        ),
        "managed": (
            frozenset({"source", "replica"}),
            frozenset({"engine", "port", "user", "clientNetworks", "deleteDataOnDestroy"}),
        ),
    },
}


def _mode_keys(
    section: str, spec: KubernetesSpec | GatewaySpec | RegistrySpec | DatabaseSpec
) -> Iterator[Finding]:
    mode = spec.mode
    required, optional = MODE_KEYS[section][mode]
    given = spec.model_dump(by_alias=True, exclude_unset=True).keys() - {"mode"}
    for key in sorted(required - given):
        yield Finding(f"{section}.{key}", f"is missing for mode {mode}", "set it")
    for key in sorted(given - required - optional):
        yield Finding(
            f"{section}.{key}", f"is not used in mode {mode}", "remove it or change the mode"
        )


@rule
def kubernetes_mode_keys(kubernetes: KubernetesSpec) -> Iterator[Finding]:
    yield from _mode_keys("kubernetes", kubernetes)
    if kubernetes.mode == "existing" and (kubernetes.kubeconfig is None) == (
        kubernetes.kubeconfig_path is None
    ):
        yield Finding(
            "kubernetes.kubeconfig",
            "mode existing needs exactly one of kubeconfig and kubeconfigPath",
            "set the secret kubeconfig or the path of a kubeconfig file",
        )


@rule
def gateway_mode_keys(gateway: GatewaySpec) -> Iterator[Finding]:
    yield from _mode_keys("gateway", gateway)


@rule
def registry_mode_keys(registry: RegistrySpec) -> Iterator[Finding]:
    yield from _mode_keys("registry", registry)


@rule
def database_mode_keys(database: DatabaseSpec) -> Iterator[Finding]:
    yield from _mode_keys("database", database)
    if (database.admin_user is None) != (database.admin_password is None):
        yield Finding(
            "database.adminUser",
            "adminUser and adminPassword go together",
            "set both to let the program create the databases, or neither",
        )


# --- nodes ----------------------------------------------------------------------------------------


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
    if count < 3 or count % 2 == 0:
        yield Finding(
            "nodes",
            f"{count} node(s) have the role master; etcd needs an odd number, at least 3",
            "give the role master to 3 or 5 nodes",
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


def _role_index(nodes: list[Node], role: Role) -> list[tuple[int, Node]]:
    return [(i, node) for i, node in enumerate(nodes) if node.has(role)]


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
    if gateway.mode == "keepalived":
        if len(gateways) < 2:
            yield Finding(
                "nodes",
                f"{len(gateways)} node(s) have the role gateway; keepalived needs at least 2",
                "give the role gateway to 2 nodes",
            )
        if gateway.vip is not None:
            yield from _vip_findings("gateway.vip", gateway.vip, gateways, nodes, "gateway nodes")
    elif not gateways:
        yield Finding("nodes", "no node has the role gateway", "give the role gateway to 2 nodes")
    elif len(gateways) == 1:
        yield warning(
            "nodes",
            "only one node has the role gateway; the load balancer has nothing to fail over to",
            "give the role gateway to 2 nodes",
        )


def _api_vip(kubernetes: KubernetesSpec) -> IPv4Interface | None:
    try:
        return IPv4Interface(kubernetes.api_address)
    except ValueError:
        return None


@rule
def api_address(nodes: list[Node], kubernetes: KubernetesSpec) -> Iterator[Finding]:
    if kubernetes.mode != "rke2" or kubernetes.api_address is None:
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
def router_ids(
    nodes: list[Node], kubernetes: KubernetesSpec, gateway: GatewaySpec
) -> Iterator[Finding]:
    api = kubernetes.api_keepalived
    if (
        kubernetes.mode == "rke2"
        and api is not None
        and gateway.mode == "keepalived"
        and api.virtual_router_id == gateway.virtual_router_id
    ):
        yield Finding(
            "kubernetes.apiKeepalived.virtualRouterId",
            f"{api.virtual_router_id} is also gateway.virtualRouterId",
            "use a virtual router id that no other VRRP instance on the network uses",
        )


# --- services on nodes ----------------------------------------------------------------------------


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
    if database.mode == "builtin":
        yield warning(
            "database.mode",
            "builtin runs one MySQL pod on one node; Rainbond stops when it fails",
            "use managed (source and replica) or an external HA database",
        )
    if database.mode != "managed" or database.source is None or database.replica is None:
        return
    yield from _referenced_node("database.source", database.source, nodes, Role.MYSQL)
    yield from _referenced_node("database.replica", database.replica, nodes, Role.MYSQL)
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
def registry_nodes(nodes: list[Node], registry: RegistrySpec) -> Iterator[Finding]:
    yield from _role_only_for(nodes, Role.REGISTRY, "registry", registry.mode, "managed")
    if registry.mode == "builtin":
        yield warning(
            "registry.mode",
            "builtin keeps images on one node's disk behind goodrain.me",
            "use an external HA registry",
        )
    if registry.mode != "managed":
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
def rainbond_replicas(rainbond: RainbondSpec) -> Iterator[Finding]:
    if rainbond.replicas < 2:
        yield warning(
            "rainbond.replicas",
            f"{rainbond.replicas} replica of rbd-api, rbd-worker and rbd-hub is not HA",
            "use 2",
        )


@rule
def databases_together(rainbond: RainbondSpec) -> Iterator[Finding]:
    # The chart drops rbd-db as soon as either database is external, so one external database
    # alone leaves the other without a server.
    cluster = rainbond.values.get("Cluster")
    if not isinstance(cluster, dict):
        return
    flags = {
        key: cluster[key].get("enable")
        for key in ("regionDatabase", "uiDatabase")
        if isinstance(cluster.get(key), dict) and "enable" in cluster[key]
    }
    if flags and (len(flags) == 1 or len(set(flags.values())) > 1):
        yield Finding(
            "rainbond.values.Cluster",
            "regionDatabase.enable and uiDatabase.enable differ or only one is set",
            "leave both to database.mode, or set both to the same value",
        )


@rule
def operator_env(rainbond: RainbondSpec) -> Iterator[Finding]:
    # A Helm list replaces the chart's whole list, including the entry the operator needs.
    operator = rainbond.values.get("operator")
    env = operator.get("env") if isinstance(operator, dict) else None
    if env is not None and {"name": "DEPLOY_VERSION", "value": "helm"} not in env:
        yield Finding(
            "rainbond.values.operator.env",
            "replaces the operator's environment without DEPLOY_VERSION=helm",
            "add {name: DEPLOY_VERSION, value: helm} (and {name: DISABLE_LOG, value: 'true'})",
        )


# --- files ----------------------------------------------------------------------------------------


def _file(path: str, value: str | None, files: Files, what: str) -> Iterator[Finding]:
    if value is None or Path(value).is_file():
        return
    if files is Files.REQUIRED:
        yield Finding(path, f"{value} does not exist", f"create it or point to {what}")
    else:
        yield warning(path, f"{value} does not exist here", f"preview and up will need {what}")


@rule
def private_keys(nodes: list[Node], ssh: SshOptions, files: Files) -> Iterator[Finding]:
    yield from _file("ssh.privateKeyFile", ssh.private_key_file, files, "the SSH private key")
    for i, node in enumerate(nodes):
        own = node.ssh
        yield from _file(
            f"nodes[{i}].ssh.privateKeyFile", own.private_key_file, files, "the SSH private key"
        )
        settings = ssh_settings(node, ssh)
        if settings.private_key_file is None and settings.private_key is None:
            yield Finding(
                f"nodes[{i}].ssh.privateKeyFile",
                f"node {node.name} has no SSH private key",
                "set ssh.privateKeyFile (or the secret ssh.privateKey) for all nodes or this one",
            )


@rule
def known_hosts_file(nodes: list[Node], ssh: SshDefaults, files: Files) -> Iterator[Finding]:
    path = ssh.known_hosts_file
    if path is None:
        unpinned = [node.name for node in nodes if ssh_settings(node, ssh).host_key is None]
        if unpinned:
            yield warning(
                "ssh.knownHostsFile",
                f"no host key is pinned for {', '.join(unpinned)}: SSH accepts whatever key"
                " answers at their addresses",
                "set it to an `ssh-keyscan` file of the nodes, or set nodes[].ssh.hostKey",
            )
        return
    if not Path(path).is_file():
        yield from _file("ssh.knownHostsFile", path, files, "an OpenSSH known_hosts file")
        return
    try:
        entries = known_hosts.parse(Path(path).read_text())
    except (OSError, ValueError) as error:
        yield Finding(
            "ssh.knownHostsFile",
            f"{path} cannot be read as known_hosts ({error})",
            "use an OpenSSH known_hosts file, such as `ssh-keyscan` output",
        )
        return
    for i, node in enumerate(nodes):
        settings = ssh_settings(node, ssh)
        names = (node.address, node.name)
        if settings.host_key is None and not known_hosts.host_key(entries, names, settings.port):
            yield Finding(
                "ssh.knownHostsFile",
                f"{path} has no host key for node {node.name} ({node.address})",
                f"add `ssh-keyscan -p {settings.port} {node.address}` to it,"
                f" or set nodes[{i}].ssh.hostKey",
            )


@rule
def kubeconfig_file(kubernetes: KubernetesSpec, files: Files) -> Iterator[Finding]:
    yield from _file(
        "kubernetes.kubeconfigPath", kubernetes.kubeconfig_path, files, "the cluster's kubeconfig"
    )


@rule
def chart_file(rainbond: RainbondSpec, files: Files) -> Iterator[Finding]:
    if not rainbond.chart_is_repository:
        yield from _file("rainbond.chart", rainbond.chart, files, "the chart .tgz")


@rule
def rke2_artifacts(kubernetes: KubernetesSpec, files: Files) -> Iterator[Finding]:
    directory = kubernetes.artifacts_dir
    if kubernetes.mode != "rke2" or directory is None:
        return
    if not Path(directory).is_dir():
        yield from _file(
            "kubernetes.artifactsDir", directory, files, "a directory of RKE2's release artifacts"
        )
    elif not (Path(directory) / "install.sh").is_file():
        yield Finding(
            "kubernetes.artifactsDir",
            f"{directory} has no install.sh",
            "put RKE2's install.sh there with the release tarball, checksums and image archives",
        )
