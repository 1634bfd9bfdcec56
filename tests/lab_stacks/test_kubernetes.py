"""The whole platform onto the lab's Kubernetes API (`existing` mode): the Rainbond release from the
real chart, values from the components' outputs, node annotations; a second up with no changes;
destroy removing the release and the annotations.

By default the other parts run in modes that leave the nodes alone (gateway: the reserved VIP as an
external address, builtin registry and database), so this test does not collide with theirs on the
shared nodes. RBD_E2E_FULL=1 runs Pulumi.lab.yaml unchanged (keepalived, managed registry and
database) and checks that imageHub and both databases point at them. About 2 minutes (isolated).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from lab.kube import control_plane
from lab.labctl import HOST_ADDR, VIP, WORK, node_address, require_lab_up
from tests.e2e.engine import PROJECT_ROOT
from tests.lab_stacks.harness import component_stack

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

FULL = os.environ.get("RBD_E2E_FULL") == "1"
NAMESPACE = "rbd-system"
# Not the default, so the test tells the configured value from the chart's fallback.
CONTAINERD = "/var/run/k3s/containerd"
GATEWAY = "rainbond.io/gateway-node"
CHAOS = "rainbond.io/chaos-node"
SERVER = f"https://{HOST_ADDR}:{control_plane.API_PORT}"
PKI = control_plane.kube_dir(WORK) / "pki"


def get(path: str) -> tuple[int, dict[str, Any]]:
    return control_plane.api(PKI, SERVER, path)


def overrides() -> dict[str, Any]:
    kubernetes = {
        "mode": "existing",
        "kubeconfigPath": "lab/.work/kubeconfig",
        "containerdRuntimePath": CONTAINERD,
    }
    if FULL:
        return {"kubernetes": kubernetes}
    # Without the managed parts, the nodes carry no mysql or registry role.
    nodes = [
        {**node, "roles": [r for r in node["roles"] if r not in ("mysql", "registry")]}
        for node in lab_nodes()
    ]
    return {
        "nodes": nodes,
        "kubernetes": kubernetes,
        "gateway": {"mode": "external", "address": VIP},
        "registry": {"mode": "builtin"},
        "database": {"mode": "builtin"},
    }


def lab_nodes() -> list[dict[str, Any]]:
    stack = yaml.safe_load((PROJECT_ROOT / "Pulumi.lab.yaml").read_text())
    nodes: list[dict[str, Any]] = stack["config"]["rainbond-ha:nodes"]
    return nodes


def with_role(role: str) -> list[str]:
    return [node["name"] for node in lab_nodes() if role in node["roles"]]


def annotations_of(name: str) -> dict[str, str]:
    status, node = get(f"/api/v1/nodes/{name}")
    assert status == 200, f"node {name}: HTTP {status}"
    result: dict[str, str] = node["metadata"].get("annotations", {})
    return result


def helm_releases() -> list[dict[str, Any]]:
    """Helm's record of the release: one Secret per revision, its status in a label."""
    status, body = get(
        f"/api/v1/namespaces/{NAMESPACE}/secrets?labelSelector=owner%3Dhelm,name%3Drainbond"
    )
    assert status in (200, 404)
    items: list[dict[str, Any]] = body.get("items", [])
    return items


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[auto.Stack, Any]]:
    require_lab_up()
    if not control_plane.kubeconfig_path(WORK).exists():
        pytest.fail("the lab has no Kubernetes API: run lab/lab up (it starts lab/kube)")
    stack = component_stack(
        "kubernetes", tmp_path_factory.mktemp("kubernetes"), ["platform"], overrides()
    )
    try:
        result = stack.up(on_output=print, color="never")
        yield stack, result
    finally:
        stack.destroy(on_output=print, color="never")
        stack.workspace.remove_stack(stack.name)


def test_release_is_deployed(deployed: tuple[auto.Stack, Any]) -> None:
    releases = helm_releases()
    assert [r["metadata"]["labels"]["status"] for r in releases] == ["deployed"]
    status, operator = get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/rainbond-operator")
    assert status == 200
    assert operator["status"].get("readyReplicas") == 1  # kwok ran its pod


def test_rainbond_cluster_carries_the_components_outputs(deployed: tuple[auto.Stack, Any]) -> None:
    stack, _ = deployed
    status, cluster = get(
        f"/apis/rainbond.io/v1alpha1/namespaces/{NAMESPACE}/rainbondclusters/rainbondcluster"
    )
    assert status == 200, cluster
    spec = cluster["spec"]
    assert spec["gatewayIngressIPs"] == [VIP]
    assert [n["name"] for n in spec["nodesForGateway"]] == with_role("gateway")
    assert [n["name"] for n in spec["nodesForChaos"]] == with_role("build")
    # goodrain.me follows the VIP, not gateway node 1: the operator reads the first entry's
    # internalIP for rbd-chaos's hostAliases and its hosts Job, the chart for its own Deployment.
    assert {n["internalIP"] for n in spec["nodesForGateway"]} == {VIP}
    status, operator = get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/rainbond-operator")
    assert status == 200
    aliases = operator["spec"]["template"]["spec"]["hostAliases"]
    assert aliases == [{"ip": VIP, "hostnames": ["goodrain.me", "region.goodrain.me"]}]
    outputs = stack.outputs()
    if FULL:
        registry = outputs["registry"].value
        assert spec["imageHub"]["domain"] == registry["pushDomain"]
        source = node_address(
            yaml.safe_load((PROJECT_ROOT / "Pulumi.lab.yaml").read_text())["config"][
                "rainbond-ha:database"
            ]["source"]
        )
        assert spec["regionDatabase"]["host"] == source
        assert spec["uiDatabase"]["host"] == source
    else:
        # Builtin registry and database: the operator runs its own rbd-hub and rbd-db.
        assert "imageHub" not in spec and "regionDatabase" not in spec


def test_containerd_runtime_path_is_the_configured_one(deployed: tuple[auto.Stack, Any]) -> None:
    status, operator = get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/rainbond-operator")
    assert status == 200
    paths = [
        v["hostPath"]["path"]
        for v in operator["spec"]["template"]["spec"]["volumes"]
        if "hostPath" in v
    ]
    assert CONTAINERD in paths
    status, chaos = get(
        f"/apis/rainbond.io/v1alpha1/namespaces/{NAMESPACE}/rbdcomponents/rbd-chaos"
    )
    assert status == 200
    assert [v["hostPath"]["path"] for v in chaos["spec"]["volumes"]] == [CONTAINERD]


def test_gateway_and_build_nodes_are_annotated(deployed: tuple[auto.Stack, Any]) -> None:
    for node in (n["name"] for n in lab_nodes()):
        marks = annotations_of(node)
        assert (marks.get(GATEWAY) == "true") == (node in with_role("gateway")), node
        assert (marks.get(CHAOS) == "true") == (node in with_role("build")), node


def test_second_up_changes_nothing(deployed: tuple[auto.Stack, Any]) -> None:
    stack, _ = deployed
    result = stack.up(on_output=print, color="never")
    changes = result.summary.resource_changes or {}
    assert set(changes) == {"same"}, changes


def test_destroy_removes_release_and_annotations(deployed: tuple[auto.Stack, Any]) -> None:
    stack, _ = deployed
    stack.destroy(on_output=print, color="never")
    assert helm_releases() == []
    status, _ = get(
        f"/apis/rainbond.io/v1alpha1/namespaces/{NAMESPACE}/rainbondclusters/rainbondcluster"
    )
    assert status == 404
    for node in (n["name"] for n in lab_nodes()):
        marks = annotations_of(node)  # the node itself stays: it is the cluster's, not ours
        assert GATEWAY not in marks and CHAOS not in marks, node
