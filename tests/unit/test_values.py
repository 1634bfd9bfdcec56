"""The Helm values the release receives, exactly, and how config modes change them."""

from __future__ import annotations

from typing import Any

from tests.unit.conftest import ROOT, Deployment, deploy, edited, fake_password, unwrap
from tests.unit.edits import put

RELEASE = "kubernetes:helm.sh/v3:Release"


def release_inputs(deployment: Deployment) -> dict[str, Any]:
    (release,) = deployment.of_type(RELEASE)
    inputs: dict[str, Any] = unwrap(release.inputs)
    return inputs


def test_dev_values_exactly(dev: Deployment) -> None:
    assert release_inputs(dev)["values"] == {
        "operator": {
            "env": [
                {"name": "DEPLOY_VERSION", "value": "helm"},
                {"name": "DISABLE_LOG", "value": "true"},
            ]
        },
        "Cluster": {
            "gatewayIngressIPs": "192.0.2.10",
            # goodrain.me follows the VIP (docs/rainbond.md, item 9).
            "nodesForGateway": [
                {"name": "rbd-1", "internalIP": "192.0.2.10", "externalIP": "192.0.2.11"},
                {"name": "rbd-2", "internalIP": "192.0.2.10", "externalIP": "192.0.2.12"},
            ],
            "nodesForChaos": [
                {"name": "rbd-1", "internalIP": "192.0.2.11", "externalIP": "192.0.2.11"},
                {"name": "rbd-2", "internalIP": "192.0.2.12", "externalIP": "192.0.2.12"},
            ],
            "containerdRuntimePath": "/var/run/k3s/containerd",
            "imageHub": {
                "enable": True,
                "domain": "192.0.2.13:5080",
                "namespace": "rainbond",
                "username": "rainbond",
                "password": fake_password("registry-password", 32),
            },
            "rainbondImageRepository": "registry.cn-hangzhou.aliyuncs.com/goodrain",
            "installVersion": "v6.9.3-release",
            "replicas": 2,
            "regionDatabase": {
                "enable": True,
                "host": "192.0.2.11",
                "port": 3306,
                "name": "region",
                "username": "rainbond",
                "password": fake_password("database-password", 32),
            },
            "uiDatabase": {
                "enable": True,
                "host": "192.0.2.11",
                "port": 3306,
                "name": "console",
                "username": "rainbond",
                "password": fake_password("database-password", 32),
            },
        },
    }


def test_dev_chart_from_the_repository(dev: Deployment) -> None:
    inputs = release_inputs(dev)
    assert (inputs["name"], inputs["chart"], inputs["version"]) == ("rainbond", "rainbond", "6.9.3")
    assert inputs["repositoryOpts"] == {"repo": "https://chart.rainbond.com"}


def test_local_chart_for_air_gapped_installs(dev_config: dict[str, Any]) -> None:
    chart = ROOT / "Pulumi.yaml"  # any existing file stands in for the .tgz
    inputs = release_inputs(deploy(edited(dev_config, put("rainbond.chart", "Pulumi.yaml"))))
    assert inputs["chart"] == str(chart)
    assert "repositoryOpts" not in inputs
    assert "version" not in inputs


def test_builtin_registry_and_database(dev_config: dict[str, Any]) -> None:
    config = edited(
        dev_config,
        put("registry", {"mode": "builtin"}),
        put("database", {"mode": "builtin"}),
        put("nodes[0].roles", ["master", "gateway", "build"]),
        put("nodes[1].roles", ["master", "gateway", "build"]),
        put("nodes[2].roles", ["master"]),
    )
    values = release_inputs(deploy(config))["values"]
    assert values["operator"]["env"][2] == {
        "name": "RBD_HUB_PASSWORD",
        "value": fake_password("registry-password", 32),
    }
    cluster = values["Cluster"]
    assert cluster["imageHub"] == {"enable": False}
    assert cluster["regionDatabase"] == cluster["uiDatabase"] == {"enable": False}


def test_external_registry_and_database(dev_config: dict[str, Any]) -> None:
    config = edited(
        dev_config,
        put(
            "registry",
            {"mode": "external", "domain": "harbor.example", "username": "rb", "password": "r-pw"},
        ),
        put(
            "database", {"mode": "external", "host": "db.example", "port": 3307, "password": "d-pw"}
        ),
        put("nodes[0].roles", ["master", "gateway", "build"]),
        put("nodes[1].roles", ["master", "gateway", "build"]),
        put("nodes[2].roles", ["master"]),
    )
    cluster = release_inputs(deploy(config))["values"]["Cluster"]
    assert cluster["imageHub"] == {
        "enable": True,
        "domain": "harbor.example",
        "namespace": "rainbond",
        "username": "rb",
        "password": "r-pw",
    }
    assert cluster["uiDatabase"] == {
        "enable": True,
        "host": "db.example",
        "port": 3307,
        "name": "console",
        "username": "rainbond",
        "password": "d-pw",
    }
    assert cluster["regionDatabase"]["name"] == "region"


def test_existing_cluster_containerd_path(dev_config: dict[str, Any]) -> None:
    kubernetes = {
        "mode": "existing",
        "kubeconfig": "clusters: [{name: c, cluster: {server: 'https://k:6443'}}]",
        "containerdRuntimePath": "/run/k0s/containerd",
    }
    values = release_inputs(deploy(edited(dev_config, put("kubernetes", kubernetes))))["values"]
    assert values["Cluster"]["containerdRuntimePath"] == "/run/k0s/containerd"


def test_external_address_and_separate_roles(dev_config: dict[str, Any]) -> None:
    config = edited(
        dev_config,
        put("nodes[1].externalAddress", "203.0.113.12"),
        put("nodes[2].roles", ["master", "registry", "build"]),
        put("nodes[0].roles", ["master", "gateway", "mysql"]),
    )
    cluster = release_inputs(deploy(config))["values"]["Cluster"]
    assert cluster["nodesForGateway"][1] == {
        "name": "rbd-2",
        "internalIP": "192.0.2.10",
        "externalIP": "203.0.113.12",
    }
    assert [n["name"] for n in cluster["nodesForChaos"]] == ["rbd-2", "rbd-3"]


def test_extra_values_merge_last(dev_config: dict[str, Any]) -> None:
    extra = {
        "operator": {"env": [{"name": "DEPLOY_VERSION", "value": "helm"}]},
        "Cluster": {"replicas": 3, "imageHub": {"namespace": "builds"}},
        "Component": {"rbd_app_ui": {"enable": True}},
    }
    values = release_inputs(deploy(edited(dev_config, put("rainbond.values", extra))))["values"]
    # Mappings merge key by key; lists are replaced whole, as Helm does.
    assert values["operator"]["env"] == [{"name": "DEPLOY_VERSION", "value": "helm"}]
    assert values["Cluster"]["replicas"] == 3
    assert values["Cluster"]["imageHub"]["namespace"] == "builds"
    assert values["Cluster"]["imageHub"]["domain"] == "192.0.2.13:5080"
    assert values["Component"] == {"rbd_app_ui": {"enable": True}}
