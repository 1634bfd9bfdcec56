"""The lab's Kubernetes API (lab/kube): what the release and `existing` mode rely on.

The API answers with a real version, a Ready node per lab node under its name and address, a
Deployment becomes ready and a Job completes (kwok runs their pods), and a namespace finishes
deleting (the controller-manager runs). About 30 seconds.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lab.kube import control_plane
from lab.labctl import HOST_ADDR, WORK, node_address, node_names, require_lab_up

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

SERVER = f"https://{HOST_ADDR}:{control_plane.API_PORT}"
PKI = control_plane.kube_dir(WORK) / "pki"


def api(path: str, method: str = "GET", body: object = None) -> tuple[int, dict[str, Any]]:
    return control_plane.api(PKI, SERVER, path, method, body)


def eventually(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout:.0f} s")


@pytest.fixture
def namespace() -> Iterator[str]:
    require_lab_up()
    name = f"lab-test-{uuid.uuid4().hex[:8]}"
    status, body = api("/api/v1/namespaces", "POST", {"metadata": {"name": name}})
    assert status == 201, body
    yield name
    api(f"/api/v1/namespaces/{name}", "DELETE")


def test_api_version_and_kubeconfig() -> None:
    require_lab_up()
    status, version = api("/version")
    assert status == 200
    pins = (control_plane.HERE / "versions.env").read_text().splitlines()
    versions = dict(line.split("=", 1) for line in pins if line and not line.startswith("#"))
    assert version["gitVersion"] == f"v{versions['KUBERNETES_VERSION']}"
    kubeconfig = control_plane.kubeconfig_path(WORK)
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert SERVER in kubeconfig.read_text()


def test_a_ready_node_per_lab_node() -> None:
    require_lab_up()
    status, body = api("/api/v1/nodes")
    assert status == 200
    nodes = {item["metadata"]["name"]: item for item in body["items"]}
    assert set(nodes) == set(node_names())
    for name, node in nodes.items():
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"] == node_address(name)
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", name


def test_deployment_becomes_ready_and_job_completes(namespace: str) -> None:
    labels = {"app": "probe"}
    pod: dict[str, Any] = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "c", "image": "never-pulled.invalid/x"}]},
    }
    deployment = {
        "metadata": {"name": "probe"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": pod},
    }
    status, body = api(f"/apis/apps/v1/namespaces/{namespace}/deployments", "POST", deployment)
    assert status == 201, body
    job_pod = {"spec": {**pod["spec"], "restartPolicy": "Never"}}
    job = {"metadata": {"name": "probe"}, "spec": {"template": job_pod}}
    status, body = api(f"/apis/batch/v1/namespaces/{namespace}/jobs", "POST", job)
    assert status == 201, body

    def ready() -> bool:
        return (
            api(f"/apis/apps/v1/namespaces/{namespace}/deployments/probe")[1]["status"].get(
                "readyReplicas"
            )
            == 2
        )

    def complete() -> bool:
        return (
            api(f"/apis/batch/v1/namespaces/{namespace}/jobs/probe")[1]["status"].get("succeeded")
            == 1
        )

    eventually("the Deployment became ready", ready)
    eventually("the Job completed", complete)


def test_namespace_deletion_finishes(namespace: str) -> None:
    status, _ = api(f"/api/v1/namespaces/{namespace}", "DELETE")
    assert status == 200
    eventually(
        "the namespace was deleted", lambda: api(f"/api/v1/namespaces/{namespace}")[0] == 404
    )
