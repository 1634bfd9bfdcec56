"""Values that are the wrong type, out of range or not what the key names are refused, each with
one line that shows the value found, what the key accepts and how to fix it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from config import ConfigError
from config.findings import MAX_LINES
from config.rules import Files
from config.validate import validate
from tests.unit.conftest import ROOT, edited
from tests.unit.edits import drop, put


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


EXTERNAL_REGISTRY = {
    "mode": "external",
    "domain": "harbor.example",
    "username": "u",
    "password": "p",
}
NO_REGISTRY_ROLE = put("nodes[2].roles", ["master"])
NO_MYSQL_ROLES = [
    put("nodes[0].roles", ["master", "gateway", "build"]),
    put("nodes[1].roles", ["master", "gateway", "build"]),
]

# (id, edits, the one line the edits must produce)
CASES: list[tuple[str, list[Any], str]] = [
    (
        "node-name-63",
        [put("nodes[0].name", "n" * 64)],
        "nodes[0].name: 'nnnn",
    ),
    (
        "octet-over-255",
        [put("nodes[0].address", "192.0.2.256")],
        "nodes[0].address: '192.0.2.256' is not an IPv4 address; use an IPv4 address or a DNS name",
    ),
    (
        "address-with-user",
        [put("nodes[0].address", "root@rbd-1.example")],
        "nodes[0].address: 'root@rbd-1.example' holds a user name before '@', not only a host",
    ),
    (
        "address-url",
        [put("nodes[0].address", "ssh://192.0.2.11")],
        "nodes[0].address: 'ssh://192.0.2.11' is a URL, not a host",
    ),
    (
        "address-network",
        [put("nodes[0].address", "192.0.2.0/24")],
        "nodes[0].address: '192.0.2.0/24' has a path or a prefix, not only a host",
    ),
    (
        "internal-address-number",
        [put("nodes[0].internalAddress", 3221225995)],
        "nodes[0].internalAddress: 3221225995 is a whole number, not a string; write an IPv4"
        " address such as 192.0.2.10",
    ),
    (
        "internal-address-unspecified",
        [put("nodes[0].internalAddress", "0.0.0.0")],
        "nodes[0].internalAddress: '0.0.0.0' is not an IPv4 address of a host",
    ),
    (
        "vip-prefix-0",
        [put("gateway.vip", "192.0.2.10/0")],
        "gateway.vip: 192.0.2.10/0 has the prefix /0, which holds every address",
    ),
    (
        "vip-network-address",
        [put("gateway.vip", "192.0.2.0/24")],
        "gateway.vip: 192.0.2.0/24 is the network address of its subnet",
    ),
    (
        "vip-broadcast-address",
        [put("gateway.vip", "192.0.2.255/24")],
        "gateway.vip: 192.0.2.255/24 is the broadcast address of its subnet",
    ),
    (
        "api-vip-broadcast-address",
        [put("kubernetes.apiAddress", "192.0.2.255/24")],
        "kubernetes.apiAddress: 192.0.2.255/24 is the broadcast address of its subnet",
    ),
    (
        "port-boolean",
        [put("ssh.port", True)],
        "ssh.port: true is a boolean, not a whole number; use a port number from 1 to 65535",
    ),
    (
        "port-string",
        [put("database.port", "3306")],
        "database.port: '3306' is a string, not a whole number; use a port number from 1 to 65535",
    ),
    (
        "port-out-of-range",
        [put("nodes[0].ssh", {"port": 0})],
        "nodes[0].ssh.port: 0 is out of range; use a port number from 1 to 65535",
    ),
    (
        "router-id-out-of-range",
        [put("gateway.virtualRouterId", 256)],
        "gateway.virtualRouterId: 256 is out of range; use a VRRP router id from 1 to 255",
    ),
    (
        "replicas-float",
        [put("rainbond.replicas", 2.5)],
        "rainbond.replicas: 2.5 is a number, not a whole number; use a number of replicas of 1",
    ),
    (
        "memory-negative",
        [put("preflight.minMemoryMib", -1)],
        "preflight.minMemoryMib: -1 is out of range; use a whole number of 0 or more",
    ),
    (
        "flag-number",
        [put("database.deleteDataOnDestroy", 1)],
        "database.deleteDataOnDestroy: 1 is a whole number, not true or false; write true or false",
    ),
    (
        "empty-user",
        [put("ssh.user", "")],
        "ssh.user: is empty; write a value",
    ),
    (
        "empty-interface",
        [put("gateway.interface", "")],
        "gateway.interface: '' is not a network interface name",
    ),
    (
        "interface-16-characters",
        [put("gateway.interface", "enp0s31f6-uplink")],
        "gateway.interface: 'enp0s31f6-uplink' is not a network interface name; use the name"
        " `ip link` shows, such as eth0: 1 to 15 characters without spaces",
    ),
    (
        "interface-space",
        [put("kubernetes.apiKeepalived.interface", "eth 0")],
        "kubernetes.apiKeepalived.interface: 'eth 0' is not a network interface name",
    ),
    (
        "registry-domain-scheme",
        [
            put("registry", {**EXTERNAL_REGISTRY, "domain": "https://harbor.example"}),
            NO_REGISTRY_ROLE,
        ],
        "registry.domain: 'https://harbor.example' is a URL, not a host; use a host with an"
        " optional :port, without scheme or path",
    ),
    (
        "registry-domain-http",
        [
            put("registry", {**EXTERNAL_REGISTRY, "domain": "http://harbor.example"}),
            NO_REGISTRY_ROLE,
        ],
        "registry.domain: 'http://harbor.example' is a URL, not a host (plain HTTP is"
        " registry.insecure: true); use a host with an optional :port, without scheme or path",
    ),
    (
        "registry-domain-path",
        [
            put("registry", {**EXTERNAL_REGISTRY, "domain": "harbor.example/rainbond"}),
            NO_REGISTRY_ROLE,
        ],
        "registry.domain: 'harbor.example/rainbond' has a path or a prefix, not only a host",
    ),
    (
        "registry-domain-bad-port",
        [put("registry", {"mode": "managed", "domain": "registry.example:99999"})],
        "registry.domain: 'registry.example:99999' has no valid port after ':'",
    ),
    (
        "registry-domain-odd-port",
        [put("registry", {"mode": "managed", "domain": "registry.example:5²"})],
        "registry.domain: 'registry.example:5²' has no valid port after ':'",
    ),
    (
        "registry-domain-empty",
        [put("registry", {"mode": "managed", "domain": ""})],
        "registry.domain: '' is not an IPv4 address or a DNS name",
    ),
    (
        "database-host-url",
        [
            put("database", {"mode": "external", "host": "mysql://db", "password": "p"}),
            *NO_MYSQL_ROLES,
        ],
        "database.host: 'mysql://db' is a URL, not a host",
    ),
    (
        "api-address-url",
        [drop("kubernetes.apiKeepalived"), put("kubernetes.apiAddress", "https://api.example")],
        "kubernetes.apiAddress: 'https://api.example' is a URL, not a host; use an IPv4 address"
        " with an optional /prefix, or a DNS name, without https:// or :port",
    ),
    (
        "api-address-port",
        [drop("kubernetes.apiKeepalived"), put("kubernetes.apiAddress", "api.example:6443")],
        "kubernetes.apiAddress: 'api.example:6443' is not an IPv4 address or a DNS name",
    ),
    (
        "namespace-dots",
        [put("rainbond.namespace", "rbd.system")],
        "rainbond.namespace: 'rbd.system' is not a Kubernetes namespace name; use at most 63"
        " lower-case letters, digits and '-'",
    ),
    (
        "client-network-host-bits",
        [put("database.clientNetworks", ["10.0.0.1/16"])],
        "database.clientNetworks[0]: '10.0.0.1/16' is not an IPv4 network",
    ),
    (
        "unknown-mode",
        [put("gateway.mode", "haproxy")],
        "gateway.mode: 'haproxy' is a string, not a mode; use external or keepalived",
    ),
    (
        "missing-mode",
        [drop("database.mode")],
        "database.mode: is missing; use builtin or external or managed",
    ),
    (
        "section-not-a-mapping",
        [put("registry", "managed")],
        "registry: 'managed' is a string, not a mapping; write its keys as `key: value` lines",
    ),
    (
        "section-not-a-list",
        [put("preflight.skip", "swap")],
        "preflight.skip: 'swap' is a string, not a list; write a list",
    ),
    (
        "roles-empty",
        [put("nodes[0].roles", [])],
        "nodes[0].roles: is empty; list at least 1 entry",
    ),
    (
        "both-key-forms",
        [put("ssh.privateKey", "-----BEGIN KEY-----")],
        "ssh.privateKey: is set together with privateKeyFile",
    ),
    (
        "node-both-key-forms",
        [put("nodes[1].ssh", {"privateKeyFile": "Pulumi.yaml", "privateKey": "k"})],
        "nodes[1].ssh.privateKey: is set together with privateKeyFile",
    ),
    (
        "api-vip-is-gateway-vip",
        [put("kubernetes.apiAddress", "192.0.2.10/24")],
        "kubernetes.apiAddress: 192.0.2.10 is also gateway.vip; give the Kubernetes API and the"
        " gateway an address each",
    ),
    (
        "api-lb-is-gateway-vip",
        [drop("kubernetes.apiKeepalived"), put("kubernetes.apiAddress", "192.0.2.10")],
        "kubernetes.apiAddress: 192.0.2.10 is also gateway.vip",
    ),
    (
        "chart-http",
        [put("rainbond.chart", "http://chart.rainbond.com")],
        "rainbond.chart: 'http://chart.rainbond.com' is not an https:// or oci:// URL",
    ),
    (
        "chart-without-scheme",
        [put("rainbond.chart", "chart.rainbond.com")],
        "rainbond.chart: '",
    ),
    (
        "operator-env-string",
        [put("rainbond.values", {"operator": {"env": "DEPLOY_VERSION=helm"}})],
        "rainbond.values.operator.env: is a string, not a list",
    ),
    (
        "values-too-deep",
        [put("rainbond.values", _deep(70))],
        "rainbond: nests more than 64 levels deep",
    ),
]


@pytest.mark.parametrize(("edits", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_value_is_refused_in_one_line(
    dev_config: dict[str, Any], edits: list[Any], line: str
) -> None:
    report = validate(edited(dev_config, *edits), root=ROOT, files=Files.REQUIRED)
    lines = [str(f) for f in report.problems]
    assert report.spec is None
    assert len(lines) == 1 and lines[0].startswith(line), lines


def test_no_message_speaks_pydantic(dev_config: dict[str, Any]) -> None:
    for _, edits, _ in CASES:
        for finding in validate(
            edited(dev_config, *edits), root=ROOT, files=Files.REQUIRED
        ).findings:
            text = str(finding)
            assert not re.search(r"Input should|valid dictionary|IPv4 interface|Value error", text)
            assert not re.search(r"[A-Z][a-z]+(Spec|Defaults|Options|Section|Gateway)\b", text)


def test_registry_insecure_warns(dev_config: dict[str, Any]) -> None:
    config = edited(
        dev_config,
        put("registry", {**EXTERNAL_REGISTRY, "insecure": True}),
        NO_REGISTRY_ROLE,
    )
    report = validate(config, root=ROOT, files=Files.REQUIRED)
    assert report.spec is not None
    assert [str(w) for w in report.warnings if "registry.insecure" in str(w)] == [
        "warning: registry.insecure: nodes will pull over plain HTTP or without checking the"
        " certificate; Rainbond's HA guide asks for an https registry, and builds pushed to an"
        " untrusted one fail on nodes that were not told to trust it; serve the registry over"
        " https with a trusted certificate and set insecure: false"
    ]


@pytest.mark.parametrize(
    "address", ["rbd-1.example.com", "192.0.2.11", "RBD-1.Example.COM", "node1."]
)
def test_addresses_that_are_hosts_are_accepted(dev_config: dict[str, Any], address: str) -> None:
    config = edited(
        dev_config, put("nodes[0].address", address), put("nodes[0].internalAddress", "192.0.2.11")
    )
    assert validate(config, root=ROOT, files=Files.REQUIRED).spec is not None


def test_keys_that_are_not_text_are_named(dev_config: dict[str, Any]) -> None:
    # Only a caller in Python can pass such keys: YAML and the engine give every key as text.
    config = edited(dev_config, put("preflight", {7: 1}), put("rainbond.values", {1: 2}))
    problems = [str(f) for f in validate(config, root=ROOT, files=Files.REQUIRED).problems]
    assert problems == [
        "rainbond.values.1: is a key that is a whole number; write every key as text",
        "preflight[7]: has the key 7, which is a whole number; write every key as text",
    ]


def test_the_engine_reports_at_most_fifty_problems(dev_config: dict[str, Any]) -> None:
    config = edited(dev_config, put("preflight.skip", [f"check-{i}" for i in range(80)]))
    error = ConfigError(validate(config, root=ROOT, files=Files.REQUIRED))
    lines = str(error).splitlines()
    assert len(lines) == 1 + MAX_LINES + 1
    assert lines[-1] == f"... and {80 - MAX_LINES} more problems not shown"


@pytest.mark.parametrize(
    "edit",
    [
        put("nodes[0].roles", ["master", {"secure": "v1:cipher-text"}]),
        put("nodes[0].name", {"secure": "v1:cipher-text"}),
        put("gateway.mode", {"secure": "v1:cipher-text"}),
        put("database.engine", ["v1:cipher-text"]),
        put("ssh.port", {"secure": "v1:cipher-text"}),
    ],
    ids=["in-a-list", "for-a-name", "for-a-mode", "list-for-a-choice", "for-a-port"],
)
def test_secure_values_in_the_wrong_place_are_not_shown(
    dev_config: dict[str, Any], edit: Any
) -> None:
    lines = [
        str(f) for f in validate(edited(dev_config, edit), root=ROOT, files=Files.WARN).findings
    ]
    assert lines and not [line for line in lines if "cipher-text" in line], lines
