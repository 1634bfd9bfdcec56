"""Each cross-section rule as edits of the dev stack: edits that keep it satisfied, edits that
break it, and the line the break must produce."""

from __future__ import annotations

from typing import Any

from tests.unit.edits import append, drop, put

PINNED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


# (id, edits that keep the rule satisfied, edits that break it, the line the break must produce)
CASES: list[tuple[str, list[Any], list[Any], str]] = [
    (
        "unknown-key",
        [],
        [put("extra", {})],
        "extra: is not a known key",
    ),
    (
        "missing-section",
        [],
        [drop("gateway")],
        "gateway: is missing; set rainbond-ha:gateway",
    ),
    (
        "node-name-dns1123",
        [put("nodes[2].name", "rbd-3.example")],
        [put("nodes[0].name", "RBD_1")],
        "nodes[0].name: 'RBD_1' is not a DNS-1123 name",
    ),
    (
        "internal-address-required-for-dns-address",
        [put("nodes[0].address", "rbd-1.example"), put("nodes[0].internalAddress", "192.0.2.11")],
        [put("nodes[0].address", "rbd-1.example")],
        "nodes[0].internalAddress: is missing",
    ),
    (
        "host-key-format",
        [put("nodes[0].ssh", {"hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake"})],
        [put("nodes[0].ssh", {"hostKey": "rbd-1 ssh-ed25519 AAAA"})],
        "nodes[0].ssh.hostKey: is not an OpenSSH public host key",
    ),
    (
        "role-names",
        [put("nodes[2].roles", ["master", "worker", "registry"])],
        [put("nodes[2].roles", ["master", "etcd"])],
        "nodes[2].roles[1]: 'etcd' is not allowed",
    ),
    (
        "unique-names",
        [],
        [put("nodes[1].name", "rbd-1")],
        "nodes[0].name: rbd-1 is used by another node too",
    ),
    (
        "unique-internal-addresses",
        [put("nodes[1].address", "198.51.100.12"), put("nodes[1].internalAddress", "192.0.2.12")],
        [put("nodes[1].address", "198.51.100.12"), put("nodes[1].internalAddress", "192.0.2.11")],
        "nodes[0].internalAddress: 192.0.2.11 is used by another node too",
    ),
    (
        "unique-ssh-endpoints",
        [
            put("nodes[1].address", "198.51.100.1"),
            put("nodes[1].internalAddress", "192.0.2.12"),
            put("nodes[2].address", "198.51.100.1"),
            put("nodes[2].internalAddress", "192.0.2.13"),
            put("nodes[2].ssh", {"port": 2222}),
        ],
        [
            put("nodes[1].address", "198.51.100.1"),
            put("nodes[1].internalAddress", "192.0.2.12"),
            put("nodes[2].address", "198.51.100.1"),
            put("nodes[2].internalAddress", "192.0.2.13"),
            put("nodes[2].ssh", {"port": 22}),
        ],
        "nodes[1].address: 198.51.100.1 is used by another node too",
    ),
    (
        "masters-at-least-three",
        [],
        [put("nodes[2].roles", ["worker", "registry"])],
        "warning: nodes: 2 node(s) have the role master; etcd stops when any of them fails",
    ),
    (
        "masters-odd",
        [
            append("nodes", {"name": "rbd-4", "address": "192.0.2.14", "roles": ["master"]}),
            append("nodes", {"name": "rbd-5", "address": "192.0.2.15", "roles": ["master"]}),
        ],
        [append("nodes", {"name": "rbd-4", "address": "192.0.2.14", "roles": ["master"]})],
        "warning: nodes: 4 node(s) have the role master; etcd survives 1 lost, as with 3",
    ),
    (
        "masters-some",
        [],
        [put(f"nodes[{i}].roles", ["worker", "gateway", "build", "mysql"]) for i in (0, 1)]
        + [put("nodes[2].roles", ["worker", "registry"])],
        "nodes: no node has the role master",
    ),
    (
        "build-node-required",
        [],
        [
            put("nodes[0].roles", ["master", "gateway", "mysql"]),
            put("nodes[1].roles", ["master", "gateway", "mysql"]),
        ],
        "nodes: no node has the role build",
    ),
    (
        "build-node-single-warning",
        [],
        [put("nodes[1].roles", ["master", "gateway", "mysql"])],
        "warning: nodes: only one node has the role build",
    ),
    (
        "keepalived-two-gateways",
        [],
        [put("nodes[1].roles", ["master", "build", "mysql"])],
        "nodes: 1 node(s) have the role gateway; keepalived needs at least 2",
    ),
    (
        "gateway-vip-not-a-node",
        [put("gateway.vip", "192.0.2.30/24")],
        [put("gateway.vip", "192.0.2.11/24")],
        "gateway.vip: 192.0.2.11 is the address of node rbd-1; use a free address in the"
        " gateway nodes' subnet",
    ),
    (
        "gateway-vip-in-subnet",
        [put("gateway.vip", "192.0.2.10")],
        [put("gateway.vip", "198.51.100.10/24")],
        "gateway.vip: 198.51.100.10/24 does not contain rbd-1's address 192.0.2.11",
    ),
    (
        "gateway-keepalived-keys",
        [],
        [drop("gateway.interface")],
        "gateway.interface: is missing for mode keepalived",
    ),
    (
        "gateway-external-keys",
        [put("gateway", {"mode": "external", "address": "198.51.100.10"})],
        [put("gateway", {"mode": "external", "address": "198.51.100.10", "vip": "192.0.2.10"})],
        "gateway.vip: is not used in mode external",
    ),
    (
        "gateway-external-single-node-warning",
        [put("gateway", {"mode": "external", "address": "198.51.100.10"})],
        [
            put("gateway", {"mode": "external", "address": "198.51.100.10"}),
            put("nodes[1].roles", ["master", "build", "mysql"]),
        ],
        "warning: nodes: only one node has the role gateway",
    ),
    (
        "gateway-external-needs-a-gateway",
        [put("gateway", {"mode": "external", "address": "198.51.100.10"})],
        [
            put("gateway", {"mode": "external", "address": "198.51.100.10"}),
            put("nodes[0].roles", ["master", "build", "mysql"]),
            put("nodes[1].roles", ["master", "build", "mysql"]),
        ],
        "nodes: no node has the role gateway",
    ),
    (
        "rke2-api-address-required",
        [],
        [drop("kubernetes.apiAddress")],
        "kubernetes.apiAddress: is missing for mode rke2",
    ),
    (
        "api-vip-not-a-node",
        [],
        [put("kubernetes.apiAddress", "192.0.2.12/24")],
        "kubernetes.apiAddress: 192.0.2.12 is the address of node rbd-2",
    ),
    (
        "api-vip-is-ipv4",
        [drop("kubernetes.apiKeepalived"), put("kubernetes.apiAddress", "api.example")],
        [put("kubernetes.apiAddress", "api.example")],
        "kubernetes.apiAddress: api.example is not an IPv4 address",
    ),
    (
        "api-address-on-one-node-warning",
        [drop("kubernetes.apiKeepalived"), put("kubernetes.apiAddress", "192.0.2.40")],
        [drop("kubernetes.apiKeepalived"), put("kubernetes.apiAddress", "192.0.2.11")],
        "warning: kubernetes.apiAddress: 192.0.2.11 is a node's own address",
    ),
    (
        "unique-router-ids",
        [put("kubernetes.apiKeepalived.virtualRouterId", 52)],
        [put("kubernetes.apiKeepalived.virtualRouterId", 51)],
        "kubernetes.apiKeepalived.virtualRouterId: 51 is also gateway.virtualRouterId",
    ),
    (
        "existing-needs-one-kubeconfig",
        [put("kubernetes", {"mode": "existing", "kubeconfig": "apiVersion: v1"})],
        [put("kubernetes", {"mode": "existing"})],
        "kubernetes.kubeconfig: mode existing needs exactly one of kubeconfig and kubeconfigPath",
    ),
    (
        "existing-keys",
        [put("kubernetes", {"mode": "existing", "kubeconfig": "apiVersion: v1"})],
        [put("kubernetes", {"mode": "existing", "kubeconfig": "x", "apiAddress": "192.0.2.20"})],
        "kubernetes.apiAddress: is not used in mode existing",
    ),
    (
        "source-is-not-replica",
        [],
        [put("database.replica", "rbd-1")],
        "database.replica: rbd-1 is also the source; use another mysql node as the replica",
    ),
    (
        "database-nodes-exist",
        [],
        [put("database.source", "rbd-9")],
        "database.source: rbd-9 is not a node",
    ),
    (
        "database-nodes-have-role",
        [
            put("nodes[2].roles", ["master", "registry", "mysql"]),
            put("database.replica", "rbd-3"),
            put("nodes[1].roles", ["master", "gateway", "build"]),
        ],
        [put("database.replica", "rbd-3")],
        "database.replica: node rbd-3 lacks the role mysql",
    ),
    (
        "mysql-role-used",
        [],
        [put("nodes[2].roles", ["master", "registry", "mysql"])],
        "nodes[2].roles: node rbd-3 has the role mysql but is neither source nor replica",
    ),
    (
        "mysql-role-only-when-managed",
        [
            put("database", {"mode": "external", "host": "db.example", "password": "pw"}),
            put("nodes[0].roles", ["master", "gateway", "build"]),
            put("nodes[1].roles", ["master", "gateway", "build"]),
        ],
        [
            put("database", {"mode": "external", "host": "db.example", "password": "pw"}),
            put("nodes[1].roles", ["master", "gateway", "build"]),
        ],
        "nodes[0].roles: role mysql is only used when database.mode is managed",
    ),
    (
        "database-external-keys",
        [
            put("database", {"mode": "external", "host": "db.example", "password": "pw"}),
            put("nodes[0].roles", ["master", "gateway", "build"]),
            put("nodes[1].roles", ["master", "gateway", "build"]),
        ],
        [put("database", {"mode": "external", "host": "db.example"})],
        "database.password: is missing for mode external",
    ),
    (
        "database-builtin-warning",
        [],
        [
            put("database", {"mode": "builtin"}),
            put("nodes[0].roles", ["master", "gateway", "build"]),
            put("nodes[1].roles", ["master", "gateway", "build"]),
        ],
        "warning: database.mode: builtin runs one MySQL pod",
    ),
    (
        "registry-builtin-warning",
        [],
        [put("registry", {"mode": "builtin"}), put("nodes[2].roles", ["master"])],
        "warning: registry.mode: builtin keeps images on one node's disk",
    ),
    (
        "registry-managed-one-node",
        [],
        [put("nodes[1].roles", ["master", "gateway", "build", "mysql", "registry"])],
        "nodes: 2 node(s) have the role registry; managed runs exactly one",
    ),
    (
        "registry-ports-differ",
        [put("registry.httpPort", 8080)],
        [put("registry.httpPort", 5000)],
        "registry.httpPort: 5000 is also registry.port;",
    ),
    (
        "registry-not-goodrain-me",
        [put("registry.domain", "registry.example:5000")],
        [put("registry.domain", "goodrain.me:5000")],
        "registry.domain: goodrain.me is Rainbond's builtin hub",
    ),
    (
        "registry-external-keys",
        [
            put(
                "registry",
                {"mode": "external", "domain": "r.example", "username": "u", "password": "p"},
            ),
            put("nodes[2].roles", ["master"]),
        ],
        [
            put("registry", {"mode": "external", "domain": "r.example", "username": "u"}),
            put("nodes[2].roles", ["master"]),
        ],
        "registry.password: is missing for mode external",
    ),
    (
        "unpinned-host-keys-warning",
        [
            drop("ssh.knownHostsFile"),
            *(put(f"nodes[{i}].ssh", {"hostKey": PINNED}) for i in range(3)),
        ],
        [drop("ssh.knownHostsFile"), put("nodes[0].ssh", {"hostKey": PINNED})],
        "warning: ssh.knownHostsFile: no host key is pinned for rbd-2, rbd-3:",
    ),
    (
        "replicas-warning",
        [put("rainbond.replicas", 3)],
        [put("rainbond.replicas", 1)],
        "warning: rainbond.replicas: 1 replica",
    ),
    (
        "databases-enabled-together",
        [
            put(
                "rainbond.values",
                {"Cluster": {"regionDatabase": {"enable": False}, "uiDatabase": {"enable": False}}},
            )
        ],
        [put("rainbond.values", {"Cluster": {"uiDatabase": {"enable": True}}})],
        "rainbond.values.Cluster: regionDatabase.enable and uiDatabase.enable differ",
    ),
    (
        "operator-env-keeps-deploy-version",
        [
            put(
                "rainbond.values",
                {"operator": {"env": [{"name": "DEPLOY_VERSION", "value": "helm"}]}},
            )
        ],
        [
            put(
                "rainbond.values",
                {"operator": {"env": [{"name": "STORAGE_CLASS_NAME", "value": "nfs"}]}},
            )
        ],
        "rainbond.values.operator.env: replaces the operator's environment without DEPLOY_VERSION",
    ),
    (
        "private-key-present",
        [drop("ssh.privateKeyFile"), put("ssh.privateKey", "-----BEGIN KEY-----")],
        [drop("ssh.privateKeyFile")],
        "nodes[0].ssh.privateKeyFile: node rbd-1 has no SSH private key",
    ),
    (
        "private-key-file-exists",
        [],
        [put("ssh.privateKeyFile", "~/.ssh/absent")],
        "ssh.privateKeyFile: ",
    ),
    (
        "node-private-key-file-exists",
        [put("nodes[0].ssh", {"privateKeyFile": "~/.ssh/rainbond_ha_ed25519"})],
        [put("nodes[0].ssh", {"privateKeyFile": "lab/.work/absent"})],
        "nodes[0].ssh.privateKeyFile: ",
    ),
    (
        "kubeconfig-file-exists",
        [put("kubernetes", {"mode": "existing", "kubeconfigPath": "Pulumi.yaml"})],
        [put("kubernetes", {"mode": "existing", "kubeconfigPath": "absent.yaml"})],
        "kubernetes.kubeconfigPath: ",
    ),
    (
        "chart-file-exists",
        [put("rainbond.chart", "Pulumi.yaml")],
        [put("rainbond.chart", "charts/absent.tgz")],
        "rainbond.chart: ",
    ),
]
