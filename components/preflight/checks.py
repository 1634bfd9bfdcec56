"""What preflight needs from each node, and the verdict on the facts the nodes report.

Pure functions: `plan()` says what each node must offer (directories, ports, VRRP), `parse_facts()`
reads what `scripts/preflight/check.sh` printed, `evaluate()` compares facts with the plan and
across nodes, and the rest renders the findings for the log, the error and the stack output.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from config import ClusterSpec, Node, Role
from config.model import (
    InstalledKubernetes,
    KeepalivedGateway,
    KubeadmKubernetes,
    ManagedDatabase,
    ManagedRegistry,
    PreflightCheck,
    Rke2Kubernetes,
)

RAINBOND_DIR = "/opt/rainbond"
RKE2_DATA_DIR = "/var/lib/rancher"
CLOCK_SKEW_LIMIT_SECONDS = 30
# RHEL 8's kernel: the oldest any distribution RKE2 supports ships.
MIN_KERNEL = (4, 18)
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "amd64": "amd64", "arm64": "arm64"}
# The node scripts install packages with apt. Releases whose packages run what they render:
SUPPORTED_RELEASES = {"debian": ("12", "13"), "ubuntu": ("22.04", "24.04")}
# Older packages than the rendered files need, by release: keepalived 2.2.7 brought
# `unicast_fault_no_peer` (the pair's config), MariaDB 10.6 `binlog-expire-logs-seconds`.
OLD_KEEPALIVED = {
    ("debian", "11"): "2.1.5",
    ("ubuntu", "20.04"): "2.0.19",
    ("ubuntu", "22.04"): "2.2.4",
}
OLD_MARIADB = {("debian", "11"): "10.5", ("ubuntu", "20.04"): "10.3"}

# Host ports Rainbond's gateway binds (hostNetwork): HTTP, HTTPS, websocket, console, API, health.
# Any other listener there is an error on a gateway node: RKE2's bundled rke2-ingress-nginx
# (hostPort 80/443, disabled by the program's server config) or a web server would keep
# rbd-gateway from starting. The operator skips nodes it finds busy on 80, 443, 6060, 7070 and
# 8443 only when it picks gateway nodes itself (rainbond-operator v6.9.3
# ChoiceAvailableGatewayNode), which it does not here: nodesForGateway is given.
GATEWAY_PORTS = (80, 443, 6060, 7070, 8443, 8889)
RKE2_SERVER_PORTS = (6443, 9345, 2379, 2380)
# A port held by the service this program runs there is no conflict on a re-run: process names
# as `ss -p` shows them (the kernel's comm).
GATEWAY_OWNERS = frozenset({"openresty"})  # APISIX, Rainbond's rbd-gateway
DATABASE_OWNERS = frozenset({"mariadbd", "mysqld"})
REGISTRY_OWNERS = frozenset({"docker-registry"})
RKE2_OWNERS = {
    6443: frozenset({"kube-apiserver"}),
    9345: frozenset({"rke2"}),
    2379: frozenset({"etcd"}),
    2380: frozenset({"etcd"}),
}
# kubeadm's "Ports and Protocols" for a control plane, and the kubelet's on every node.
KUBEADM_CONTROL_PLANE_OWNERS = {
    6443: frozenset({"kube-apiserver"}),
    2379: frozenset({"etcd"}),
    2380: frozenset({"etcd"}),
    10257: frozenset({"kube-controller"}),
    10259: frozenset({"kube-scheduler"}),
}
KUBELET_OWNERS = {10250: frozenset({"kubelet"})}


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class NodePlan:
    """What one node must offer, beyond what every node must."""

    node: Node
    disk_paths: tuple[str, ...]
    ports: Mapping[int, frozenset[str]]  # port -> processes allowed to hold it
    vrrp: bool  # runs keepalived
    mariadb: bool  # runs the managed MariaDB


def plan(spec: ClusterSpec) -> dict[str, NodePlan]:
    kubernetes, database, registry = spec.kubernetes, spec.database, spec.registry
    rke2 = isinstance(kubernetes, Rke2Kubernetes)
    kubeadm = isinstance(kubernetes, KubeadmKubernetes)
    api_vip = isinstance(kubernetes, InstalledKubernetes) and kubernetes.api_keepalived is not None
    managed_database = database if isinstance(database, ManagedDatabase) else None
    database_nodes = (
        {managed_database.source, managed_database.replica} if managed_database else set()
    )
    plans = {}
    for node in spec.nodes:
        ports: dict[int, frozenset[str]] = {}
        if node.has(Role.GATEWAY):
            ports.update(dict.fromkeys(GATEWAY_PORTS, GATEWAY_OWNERS))
        if managed_database and node.name in database_nodes:
            ports[managed_database.port] = DATABASE_OWNERS
        if node.has(Role.REGISTRY) and isinstance(registry, ManagedRegistry):
            ports[registry.port] = REGISTRY_OWNERS
            ports[registry.http_port] = REGISTRY_OWNERS
        if node.has(Role.MASTER) and rke2:
            ports.update(RKE2_OWNERS)
        if kubeadm and node.is_kubernetes_node:
            ports.update(KUBELET_OWNERS)
            if node.has(Role.MASTER):
                ports.update(KUBEADM_CONTROL_PLANE_OWNERS)
        disks = (RAINBOND_DIR, RKE2_DATA_DIR) if rke2 else (RAINBOND_DIR,)
        vrrp = (node.has(Role.GATEWAY) and isinstance(spec.gateway, KeepalivedGateway)) or (
            node.has(Role.MASTER) and api_vip
        )
        plans[node.name] = NodePlan(
            node=node,
            disk_paths=disks if node.is_kubernetes_node else (),
            ports=dict(sorted(ports.items())),
            vrrp=vrrp,
            mariadb=node.name in database_nodes
            and managed_database is not None
            and managed_database.engine == "mariadb",
        )
    return plans


@dataclass(frozen=True)
class Listener:
    port: int
    process: str  # "" when the listener's process is not visible
    pid: str


@dataclass(frozen=True)
class Disk:
    measured_at: str  # the nearest existing directory
    free_kib: int


@dataclass
class Facts:
    """What check.sh printed: `name<TAB>field...` lines."""

    values: dict[str, str] = field(default_factory=dict)
    disks: dict[str, Disk] = field(default_factory=dict)
    listeners: list[Listener] | None = field(default_factory=list)  # None: ss is missing
    firewall: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def number(self, name: str) -> int:
        value = self.get(name)
        return int(value) if value.isdigit() else 0


_SS_LINE = re.compile(r"^\S+\s+\d+\s+\d+\s+(?P<local>\S+)\s+\S+(?:\s+(?P<users>.*))?$")
_SS_USER = re.compile(r'\("(?P<process>[^"]*)",pid=(?P<pid>\d+)')


def parse_listener(line: str) -> Listener:
    """One line of `ss -Hltnp`: `LISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("python3",pid=7,fd=3))`."""
    match = _SS_LINE.match(line.strip())
    if match is None:
        raise ValueError(f"not an ss listener line: {line!r}")
    port = int(match["local"].rsplit(":", 1)[1])
    user = _SS_USER.search(match["users"] or "")
    return Listener(port, user["process"], user["pid"]) if user else Listener(port, "", "")


def parse_facts(text: str) -> Facts:
    facts = Facts()
    for line in text.splitlines():
        name, _, rest = line.partition("\t")
        if name == "disk":
            path, existing, free = rest.split("\t")
            facts.disks[path] = Disk(existing, int(free) if free.isdigit() else 0)
        elif name == "listener":
            assert facts.listeners is not None
            facts.listeners.append(parse_listener(rest))
        elif name == "listeners" and rest == "unknown":
            facts.listeners = None
        elif name == "firewall":
            tool, _, rule = rest.partition("\t")
            facts.firewall.append((tool, rule.strip()))
        elif name:
            facts.values[name] = rest
    return facts


@dataclass(frozen=True)
class Finding:
    node: str
    check: PreflightCheck
    level: Level
    detail: str


# A node check: the findings' level and detail for one node (None: not applicable there).
Verdict = tuple[Level, str] | None


def _sudo(facts: Facts) -> Verdict:
    user, sudo = facts.get("user"), facts.get("sudo")
    if sudo == "no":
        return Level.ERROR, (
            f"SSH user {user} is not root and `sudo -n` asks for a password;"
            " allow it passwordless sudo or log in as root"
        )
    return Level.OK, "root" if sudo == "root" else f"{user} with passwordless sudo"


def _os(plan: NodePlan, facts: Facts) -> Verdict:
    os_id, version, name = facts.get("os_id"), facts.get("os_version_id"), facts.get("os_name")
    family = {os_id, *facts.get("os_id_like").split()}
    if not family & {"debian", "ubuntu"}:
        return Level.ERROR, f"{name or 'unknown OS'} is not Debian or Ubuntu; the steps use apt"
    supported = ", ".join(f"{d} {v}" for d, vs in SUPPORTED_RELEASES.items() for v in vs)
    release = (os_id, version)
    too_old = []
    if plan.vrrp and release in OLD_KEEPALIVED:
        too_old.append(f"keepalived {OLD_KEEPALIVED[release]} (the VRRP config needs 2.2.7+)")
    if plan.mariadb and release in OLD_MARIADB:
        too_old.append(f"MariaDB {OLD_MARIADB[release]} (the database config needs 10.6+)")
    if too_old:
        return Level.ERROR, f"{name} ships {' and '.join(too_old)}; supported: {supported}"
    if version not in SUPPORTED_RELEASES.get(os_id, ()):
        return Level.WARNING, f"{name} is not a supported release ({supported})"
    return Level.OK, name


def _arch(facts: Facts) -> Verdict:
    arch = facts.get("arch")
    if arch not in ARCHITECTURES:
        return (
            Level.ERROR,
            f"{arch} is not amd64 or arm64, the architectures RKE2 and Rainbond ship",
        )
    return Level.OK, ARCHITECTURES[arch]


def _kernel(facts: Facts) -> Verdict:
    kernel = facts.get("kernel")
    match = re.match(r"(\d+)\.(\d+)", kernel)
    if match is None or (int(match[1]), int(match[2])) < MIN_KERNEL:
        minimum = ".".join(map(str, MIN_KERNEL))
        return Level.ERROR, f"kernel {kernel} is older than {minimum}"
    return Level.OK, kernel


def _hostname(plan: NodePlan, facts: Facts) -> Verdict:
    if not plan.node.is_kubernetes_node:
        return None
    hostname = facts.get("hostname")
    if hostname != plan.node.name:
        return Level.ERROR, (
            f"hostname is {hostname!r}, not the node name {plan.node.name!r}; Kubernetes names"
            f" the node after the hostname: run `hostnamectl set-hostname {plan.node.name}`"
            " or rename the node in the config"
        )
    return Level.OK, hostname


def _swap(plan: NodePlan, facts: Facts) -> Verdict:
    if not plan.node.is_kubernetes_node:
        return None
    swap_mib = facts.number("swap_kib") // 1024
    if swap_mib:
        return Level.WARNING, (
            f"{swap_mib} MiB of swap is on; Kubernetes expects swap off"
            " (`swapoff -a`, and remove it from /etc/fstab)"
        )
    return Level.OK, "off"


def _memory(minimum_mib: int, facts: Facts) -> Verdict:
    memory_mib = facts.number("mem_kib") // 1024
    if memory_mib < minimum_mib:
        return Level.ERROR, f"{memory_mib} MiB of memory, {minimum_mib} MiB needed"
    return Level.OK, f"{memory_mib} MiB"


def _disk(minimum_gib: int, plan: NodePlan, facts: Facts) -> Verdict:
    if not plan.disk_paths:
        return None
    problems, free = [], []
    for path in plan.disk_paths:
        disk = facts.disks.get(path)
        free_gib = disk.free_kib // (1024 * 1024) if disk else 0
        free.append(f"{path} {free_gib} GiB free")
        if free_gib < minimum_gib:
            where = f" (on {disk.measured_at})" if disk and disk.measured_at != path else ""
            problems.append(f"{path}{where} has {free_gib} GiB free, {minimum_gib} GiB needed")
    if problems:
        return Level.ERROR, "; ".join(problems)
    return Level.OK, ", ".join(free)


def _ports(plan: NodePlan, facts: Facts) -> Verdict:
    if not plan.ports:
        return None
    if facts.listeners is None:
        return Level.ERROR, "cannot list listeners: `ss` (iproute2) is missing"
    problems, ours = [], []
    for listener in sorted(set(facts.listeners), key=lambda x: (x.port, x.process)):
        owners = plan.ports.get(listener.port)
        if owners is None:
            continue
        if listener.process in owners:
            ours.append(f"{listener.port} held by {listener.process} (deployed here)")
        else:
            holder = f"{listener.process} (pid {listener.pid})" if listener.process else "unknown"
            problems.append(f"port {listener.port} is held by {holder}")
    if problems:
        return Level.ERROR, "; ".join(problems)
    free = [str(port) for port in plan.ports if port not in {x.port for x in facts.listeners}]
    return Level.OK, ", ".join(filter(None, [f"{' '.join(free)} free" if free else "", *ours]))


_VRRP_RULE = re.compile(r"vrrp|(?:protocol|l4proto|-p)\s+112\b")
_DROPS = re.compile(r"\b(drop|reject|DROP|REJECT)\b")
_ACCEPTS = re.compile(r"\b(accept|ACCEPT)\b")
_INPUT_DROP = re.compile(r"hook input\b.*policy drop|^:INPUT DROP\b")


def _vrrp(plan: NodePlan, facts: Facts) -> Verdict:
    """Local firewall rules only: probing the peer would send VRRP where nothing asked for it."""
    if not plan.vrrp:
        return None
    vrrp_rules = [(tool, rule) for tool, rule in facts.firewall if _VRRP_RULE.search(rule)]
    blocking = [f"{tool}: {rule}" for tool, rule in vrrp_rules if _DROPS.search(rule)]
    if blocking:
        return Level.ERROR, "a firewall rule drops VRRP (IP protocol 112): " + "; ".join(blocking)
    accepted = any(_ACCEPTS.search(rule) for _, rule in vrrp_rules)
    if not accepted and any(_INPUT_DROP.search(rule) for _, rule in facts.firewall):
        return Level.WARNING, (
            "the firewall drops input by default and no rule accepts VRRP (IP protocol 112);"
            " allow it between the keepalived nodes"
        )
    if facts.get("firewall_tools") != "yes":
        return Level.OK, "no nft or iptables on the node"
    return Level.OK, "accepted" if accepted else "no rule drops it"


def _duplicates(values: Mapping[str, str]) -> dict[str, list[str]]:
    """For each node, the other nodes reporting the same non-empty value."""
    holders: dict[str, list[str]] = defaultdict(list)
    for node, value in values.items():
        if value:
            holders[value].append(node)
    return {node: [o for o in holders[value] if o != node] for node, value in values.items()}


def _unique(what: str, value: str, others: list[str]) -> Verdict:
    if not value:
        return Level.ERROR, f"the node reports no {what}"
    if others:
        return Level.ERROR, f"{what} {value} is also {', '.join(others)}'s"
    return Level.OK, value


def _clock(node_epoch: int, local_epoch: int) -> Verdict:
    skew = node_epoch - local_epoch
    ahead = f"{abs(skew)} s {'ahead of' if skew > 0 else 'behind'} the machine running pulumi"
    if abs(skew) > CLOCK_SKEW_LIMIT_SECONDS:
        return Level.ERROR, f"{ahead}; limit {CLOCK_SKEW_LIMIT_SECONDS} s: sync it with NTP"
    return Level.OK, f"{skew:+d} s"


def evaluate(
    spec: ClusterSpec,
    facts: Mapping[str, Facts],
    local_epochs: Mapping[str, int],
) -> list[Finding]:
    """Every check on every node where it applies, in node order; skipped checks included."""
    plans = plan(spec)
    hostnames = _duplicates({node: f.get("hostname") for node, f in facts.items()})
    machine_ids = _duplicates({node: f.get("machine_id") for node, f in facts.items()})
    skip = set(spec.preflight.skip)
    findings = []
    for node in spec.nodes:
        node_facts, node_plan = facts[node.name], plans[node.name]
        verdicts: dict[PreflightCheck, Verdict] = {
            PreflightCheck.SUDO: _sudo(node_facts),
            PreflightCheck.OS: _os(node_plan, node_facts),
            PreflightCheck.ARCH: _arch(node_facts),
            PreflightCheck.KERNEL: _kernel(node_facts),
            PreflightCheck.HOSTNAME: _hostname(node_plan, node_facts),
            PreflightCheck.UNIQUE_HOSTNAME: _unique(
                "hostname", node_facts.get("hostname"), hostnames[node.name]
            ),
            PreflightCheck.MACHINE_ID: _unique(
                "machine-id", node_facts.get("machine_id"), machine_ids[node.name]
            ),
            PreflightCheck.CLOCK: _clock(
                node_facts.number("epoch"), local_epochs.get(node.name, 0)
            ),
            PreflightCheck.SWAP: _swap(node_plan, node_facts),
            PreflightCheck.MEMORY: _memory(spec.preflight.min_memory_mib, node_facts),
            PreflightCheck.DISK: _disk(spec.preflight.min_disk_gib, node_plan, node_facts),
            PreflightCheck.PORTS: _ports(node_plan, node_facts),
            PreflightCheck.VRRP: _vrrp(node_plan, node_facts),
        }
        for check, verdict in verdicts.items():
            if verdict is None:
                continue
            level, detail = (Level.SKIPPED, "preflight.skip") if check in skip else verdict
            findings.append(Finding(node.name, check, level, detail))
    return findings


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == Level.ERROR]


def table(findings: list[Finding]) -> str:
    rows = [("NODE", "CHECK", "RESULT", "DETAIL")]
    rows += [(f.node, f.check.value, f.level.value, f.detail) for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    )


def _by_node(findings: list[Finding]) -> Iterator[tuple[str, list[Finding]]]:
    nodes: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        nodes[finding.node].append(finding)
    yield from nodes.items()


def failure(findings: list[Finding], recheck: Mapping[str, str]) -> str:
    """The error that stops the deploy: every failing check, by node, and how to check again."""
    failed = errors(findings)
    lines = [f"preflight failed: {len(failed)} error(s) on {len({f.node for f in failed})} node(s)"]
    for node, node_findings in _by_node(failed):
        lines.append(f"{node}:")
        lines += [f"  {f.check.value}: {f.detail}" for f in node_findings]
    # The facts are recorded in the stack; a later `up` reuses them until the steps run again.
    urns = " ".join(f"--replace '{recheck[node]}'" for node, _ in _by_node(failed))
    lines.append(
        f"Fix the nodes, then check them again: pulumi up {urns}"
        " (or leave a check out with preflight.skip)"
    )
    return "\n".join(lines)


def results(findings: list[Finding]) -> dict[str, dict[str, dict[str, str]]]:
    """The stack output: node -> check -> {result, detail}."""
    return {
        node: {f.check.value: {"result": f.level.value, "detail": f.detail} for f in items}
        for node, items in _by_node(findings)
    }


def summary(findings: list[Finding]) -> str:
    """One line for a passing verdict."""
    count = {level: sum(f.level == level for f in findings) for level in Level}
    nodes = len({f.node for f in findings})
    return (
        f"preflight passed on {nodes} node(s): {count[Level.WARNING]} warning(s),"
        f" {count[Level.SKIPPED]} skipped"
    )
