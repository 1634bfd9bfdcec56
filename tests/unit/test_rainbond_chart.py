"""What the real Rainbond 6.9.3 chart does with the values the program gives it, read from the
chart's own templates (helm is not available offline here), and the objects patched after it."""

from __future__ import annotations

import re
import tarfile
from typing import Any

import pytest

from components.rainbond.patches import CLUSTER, RAINBOND_API, cluster_patches
from config.model import RainbondSpec
from tests.unit.conftest import ROOT, Deployment, deploy, edited, unwrap
from tests.unit.edits import put

# Where Pulumi.lab.yaml takes the chart from: ../shared/fixtures/charts beside the project.
CHART = ROOT.parent / "shared" / "fixtures" / "charts" / "rainbond-6.9.3.tgz"


def template(name: str) -> str:
    if not CHART.exists():
        pytest.skip(f"{CHART} is not here")
    with tarfile.open(CHART) as chart:
        member = chart.extractfile(f"rainbond/templates/{name}")
        assert member is not None
        return member.read().decode()


def release_values(deployment: Deployment) -> dict[str, Any]:
    (release,) = deployment.of_type("kubernetes:helm.sh/v3:Release")
    values: dict[str, Any] = unwrap(release.inputs["values"])
    return values


def test_the_operator_resolves_goodrain_me_to_the_vip(dev: Deployment) -> None:
    text = template("deployment.yaml")
    # The chart maps goodrain.me to the first gateway entry's internalIP, nothing else.
    aliases = re.search(
        r"\$gatewayNode := index \.Values\.Cluster\.nodesForGateway 0 \}\}.*?"
        r"- ip: \{\{ \$gatewayNode\.internalIP \| quote \}\}\s*hostnames:\s*- goodrain\.me",
        text,
        re.DOTALL,
    )
    assert aliases, "the chart no longer reads nodesForGateway[0].internalIP for goodrain.me"
    cluster = release_values(dev)["Cluster"]
    # So the rendered hostAliases entry is the VIP, as is what the operator gives rbd-chaos.
    assert cluster["nodesForGateway"][0]["internalIP"] == cluster["gatewayIngressIPs"]
    assert {node["internalIP"] for node in cluster["nodesForGateway"]} == {"192.0.2.10"}
    assert [node["name"] for node in cluster["nodesForGateway"]] == ["rbd-1", "rbd-2"]


def test_the_chart_writes_suffix_http_host_empty_whatever_the_values() -> None:
    text = template("rainbondcluster_helm.yaml")
    assert 'suffixHTTPHost: ""' in text and "name: rainbondcluster" in text


def test_the_chart_pins_these_components_to_one_replica() -> None:
    text = template("rbdcomponent_helm.yaml")
    pinned = set()
    for item in text.split("- apiVersion: rainbond.io/v1alpha1")[1:]:
        name = re.search(r"^    name: (\S+)", item, re.MULTILINE)
        if name and re.search(r"^    replicas: 1$", item, re.MULTILINE):
            pinned.add(name.group(1))
    assert pinned == {
        "local-path-provisioner",
        "minio",
        "rbd-mq",
        "rbd-monitor",
        "rbd-db",
        "rbd-app-ui",
    }


def test_rbd_monitor_runs_twice_and_nothing_else_is_patched(dev: Deployment) -> None:
    patches = {r.name: r for r in dev.registrations.values() if r.type.endswith("Patch")}
    monitor = patches["rainbond-rbd-monitor"]
    assert monitor.type == f"kubernetes:{RAINBOND_API}:RbdComponentPatch"
    assert unwrap(monitor.inputs["spec"]) == {"replicas": 2}
    metadata = unwrap(monitor.inputs["metadata"])
    assert metadata["namespace"] == "rbd-system"
    assert metadata["annotations"] == {"pulumi.com/patchForce": "true"}
    (release,) = dev.of_type("kubernetes:helm.sh/v3:Release")
    assert release.urn in monitor.dependencies
    assert "rainbond-rainbondcluster" not in patches  # no httpDomain: the operator's default


def test_http_domain_becomes_the_clusters_suffix(dev_config: dict[str, Any]) -> None:
    deployment = deploy(edited(dev_config, put("rainbond.httpDomain", "apps.example.com")))
    patch = deployment.named(f"rainbond-{CLUSTER}")
    assert patch.type == f"kubernetes:{RAINBOND_API}:RainbondClusterPatch"
    assert unwrap(patch.inputs["spec"]) == {"suffixHTTPHost": "apps.example.com"}
    assert unwrap(patch.inputs["metadata"])["name"] == "rainbondcluster"


def test_http_domain_must_be_a_dns_name() -> None:
    assert RainbondSpec(http_domain="apps.example.com").http_domain == "apps.example.com"
    with pytest.raises(ValueError):
        RainbondSpec(http_domain="*.apps.example.com")
    assert [p.name for p in cluster_patches(RainbondSpec())] == ["rbd-monitor"]
