"""The resource graph the dev stack (and its mode variants) registers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from lab.labctl import HOST_ADDR
from tests.unit.conftest import Deployment, depends_on, deploy, edited, fake_password, unwrap
from tests.unit.edits import drop, put

PLATFORM = "rainbond-ha:platform:RainbondPlatform"
COMMAND = "command:remote:Command"
RELEASE = "kubernetes:helm.sh/v3:Release"
COMPONENTS = {
    "rainbond-ha:preflight:Preflight": "preflight",
    "rainbond-ha:kubernetes:KubernetesCluster": "kubernetes",
    "rainbond-ha:gateway:GatewayVip": "gateway",
    "rainbond-ha:build:BuildNodes": "build",
    "rainbond-ha:registry:ImageRegistry": "registry",
    "rainbond-ha:database:MySQLReplication": "database",
    "rainbond-ha:rainbond:RainbondRelease": "rainbond",
}


def steps(deployment: Deployment, component: str) -> list[str]:
    (parent,) = deployment.of_type(next(t for t, n in COMPONENTS.items() if n == component))
    return sorted(r.name for r in deployment.children(parent) if r.type == COMMAND)


def test_every_component_under_the_platform(dev: Deployment) -> None:
    (platform,) = dev.of_type(PLATFORM)
    for type_, name in COMPONENTS.items():
        (component,) = dev.of_type(type_)
        assert (component.name, component.parent) == (name, platform.urn)


def test_dev_steps(dev: Deployment) -> None:
    nodes = ["rbd-1", "rbd-2", "rbd-3"]
    assert steps(dev, "preflight") == [f"preflight-{n}" for n in nodes]
    assert steps(dev, "gateway") == ["gateway-keepalived-rbd-1", "gateway-keepalived-rbd-2"]
    assert steps(dev, "build") == ["build-rbd-1", "build-rbd-2"]
    assert steps(dev, "registry") == ["registry-server", "registry-tls"] + [
        f"registry-trust-{n}" for n in nodes
    ]
    assert steps(dev, "database") == [
        "database-backup",
        "database-replica",
        "database-server-rbd-1",
        "database-server-rbd-2",
        "database-source",
    ]
    assert steps(dev, "kubernetes") == sorted(
        [f"kubernetes-api-vip-{n}" for n in nodes]
        + [f"kubernetes-server-{n}" for n in nodes]
        + ["kubernetes-kubeconfig"]
    )


def test_every_node_changing_step_waits_for_the_preflight_verdict(dev: Deployment) -> None:
    # One verdict resource that depends on every node's facts: each step waits for it alone, so
    # the graph grows linearly with the nodes while no step can start before every check passed.
    verdict = dev.named("preflight-passed")
    facts = {r.urn for r in dev.of_type(COMMAND) if r.name.startswith("preflight-")}
    assert facts <= set(verdict.dependencies)
    for step in dev.of_type(COMMAND):
        if not step.name.startswith("preflight-"):
            assert verdict.urn in step.dependencies, step.name


def test_release_waits_for_database_registry_gateway_build_and_kubernetes(dev: Deployment) -> None:
    (release,) = dev.of_type(RELEASE)
    (component,) = dev.of_type("rainbond-ha:rainbond:RainbondRelease")
    assert release.parent == component.urn
    for step in dev.of_type(COMMAND):
        if not step.name.startswith("preflight-"):
            assert step.urn in release.dependencies, step.name


def test_release_uses_the_cluster_provider(dev: Deployment) -> None:
    (provider,) = dev.of_type("pulumi:providers:kubernetes")
    (release,) = dev.of_type(RELEASE)
    assert provider.inputs["kubeconfig"]  # from the kubeconfig step
    assert depends_on(dev, provider, "kubernetes-kubeconfig")
    assert release.inputs["namespace"] == "rbd-system"
    assert release.inputs["createNamespace"] is True


def test_servers_join_one_at_a_time_then_agents(dev_config: dict[str, Any]) -> None:
    worker = {"name": "rbd-4", "address": "192.0.2.14", "roles": ["worker", "build"]}
    deployment = deploy(edited(dev_config, lambda c: c["nodes"].append(worker)))
    server = [deployment.named(f"kubernetes-server-rbd-{i}") for i in (1, 2, 3)]
    assert all(depends_on(deployment, server[0], f"kubernetes-api-vip-rbd-{i}") for i in (1, 2, 3))
    assert depends_on(deployment, server[1], "kubernetes-server-rbd-1")
    assert depends_on(deployment, server[2], "kubernetes-server-rbd-2")
    agent = deployment.named("kubernetes-agent-rbd-4")
    # Agents follow the last server, one after the other.
    assert depends_on(deployment, agent, "kubernetes-server-rbd-3")
    kubeconfig = deployment.named("kubernetes-kubeconfig")
    assert agent.urn in kubeconfig.dependencies


def test_each_node_runs_kubernetes_after_it_trusts_the_registry(
    dev_config: dict[str, Any],
) -> None:
    # Its own node's trust step only: waiting for every node's would make n x n edges.
    worker = {"name": "rbd-4", "address": "192.0.2.14", "roles": ["worker", "build"]}
    deployment = deploy(edited(dev_config, lambda c: c["nodes"].append(worker)))
    prefix = "registry-trust-"
    trust = {
        r.urn: r.name.removeprefix(prefix)
        for r in deployment.of_type(COMMAND)
        if r.name.startswith(prefix)
    }
    own = {
        "kubernetes-server-rbd-1": {"rbd-1"},
        "kubernetes-server-rbd-2": {"rbd-2"},
        "kubernetes-server-rbd-3": {"rbd-3"},
        "kubernetes-agent-rbd-4": {"rbd-4"},
        # The agent's membership is kept from the first server.
        "kubernetes-member-rbd-4": {"rbd-1"},
        "kubernetes-kubeconfig": {"rbd-1"},
        # One VIP for the masters, configured as a group: each of its steps waits for all of
        # theirs, which grows with the masters only.
        **{f"kubernetes-api-vip-rbd-{i}": {"rbd-1", "rbd-2", "rbd-3"} for i in (1, 2, 3)},
    }
    assert sorted(own) == steps(deployment, "kubernetes")
    for name, nodes in own.items():
        waited = {trust[urn] for urn in deployment.named(name).dependencies if urn in trust}
        assert waited == nodes, name


def test_replica_after_source(dev: Deployment) -> None:
    assert depends_on(dev, dev.named("database-replica"), "database-source")


@pytest.mark.parametrize(
    ("edits", "absent"),
    [
        (
            [
                put("database", {"mode": "builtin"}),
                put("nodes[0].roles", ["master", "gateway", "build"]),
                put("nodes[1].roles", ["master", "gateway", "build"]),
            ],
            "database",
        ),
        ([put("gateway", {"mode": "external", "address": "198.51.100.10"})], "gateway"),
    ],
    ids=["builtin-database", "external-gateway"],
)
def test_modes_without_steps(dev_config: dict[str, Any], edits: list[Any], absent: str) -> None:
    deployment = deploy(edited(dev_config, *edits))
    assert steps(deployment, absent) == []
    assert deployment.of_type(RELEASE)


def test_existing_cluster_reads_the_kubeconfig_file(
    dev_config: dict[str, Any], tmp_path: Any
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"apiVersion: v1\nclusters:\n- name: lab\n  cluster: {{server: 'https://{HOST_ADDR}:6443'}}\n"
        "contexts:\n- name: lab\n  context: {cluster: lab}\ncurrent-context: lab\n"
    )
    deployment = deploy(
        edited(
            dev_config, put("kubernetes", {"mode": "existing", "kubeconfigPath": str(kubeconfig)})
        )
    )
    assert steps(deployment, "kubernetes") == []
    (provider,) = deployment.of_type("pulumi:providers:kubernetes")
    assert unwrap(provider.inputs["kubeconfig"]) == kubeconfig.read_text()
    assert deployment.outputs["apiEndpoint"].value == f"https://{HOST_ADDR}:6443"


def test_outputs(dev: Deployment) -> None:
    assert dev.outputs["consoleUrl"].value == "http://192.0.2.10:7070"
    assert dev.outputs["gatewayVip"].value == "192.0.2.10"
    assert dev.outputs["apiEndpoint"].value == "https://192.0.2.20:6443"
    assert "https://192.0.2.20:6443" in dev.outputs["kubeconfig"].value
    assert dev.outputs["database"].value == {
        "mode": "managed",
        "host": "192.0.2.11",
        "port": 3306,
        "user": "rainbond",
        "password": fake_password("database-password", 32),
        "databases": ["console", "region"],
    }
    assert dev.outputs["registry"].value == {
        "mode": "managed",
        "domain": "192.0.2.13:5000",
        "pushDomain": "192.0.2.13:5080",
        "namespace": "rainbond",
        "username": "rainbond",
        "password": fake_password("registry-password", 32),
    }


def test_invalid_config_registers_nothing(dev_config: dict[str, Any]) -> None:
    from config import ConfigError

    with pytest.raises(ConfigError) as raised:
        deploy(edited(dev_config, drop("gateway.interface"), put("database.replica", "rbd-1")))
    assert str(raised.value).splitlines()[1:] == [
        "gateway.interface: is missing for mode keepalived; set it",
        "database.replica: rbd-1 is also the source; use another mysql node as the replica",
    ]


def test_missing_key_file_is_a_config_error(dev_config: dict[str, Any]) -> None:
    from config import ConfigError

    with pytest.raises(ConfigError, match=r"ssh\.privateKeyFile: .*absent does not exist"):
        deploy(edited(dev_config, put("ssh.privateKeyFile", "~/.ssh/absent")))


def test_nodes_of_one_kind_change_one_after_the_other(dev: Deployment) -> None:
    # The gateway pair and the API VIP: each node's keepalived waits for the one before it.
    for name, nodes in (
        ("gateway-keepalived", ["rbd-1", "rbd-2"]),
        ("kubernetes-api-vip", ["rbd-1", "rbd-2", "rbd-3"]),
    ):
        for first, second in itertools.pairwise(nodes):
            assert depends_on(dev, dev.named(f"{name}-{second}"), f"{name}-{first}")
    # The database: the replica's server (rbd-2) first, then the source's (rbd-1).
    assert depends_on(dev, dev.named("database-server-rbd-1"), "database-server-rbd-2")
    assert not depends_on(dev, dev.named("database-server-rbd-2"), "database-server-rbd-1")
