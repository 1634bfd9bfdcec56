"""A worker's drain for an upgrade (upgrade-drain.sh) and its uncordon (member.sh), run with the
lab's kubectl against the lab's Kubernetes API, whose kwok nodes report kubelet `kwok-<version>`.

node3 stands for a worker on the old kubelet when the stack asks for another version: it is
marked, cordoned and drained (its pod goes). A drain for the version a node already runs changes
nothing. The lab cannot change a kwok node's kubelet, so its upgrade is played by marking node3
as drained for the kubelet it runs; then its member step uncordons it and drops the mark.
About 20 seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.kubernetes.admin import MEMBER, UPGRADE_DRAIN
from components.shared.remote import Script, render
from lab.kube import control_plane
from lab.labctl import WORK, require_lab_up

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

KUBECONFIG = control_plane.kubeconfig_path(WORK)
NODE = "node3"
MARK = "rainbond-ha/drained-for-upgrade"


def kubectl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(control_plane.kubectl_path(WORK)), "--kubeconfig", str(KUBECONFIG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def node() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(kubectl("get", "node", NODE, "-o", "json"))
    return found


def run(script: Script, node_name: str, version: str) -> str:
    params = {
        "NODE_NAME": node_name,
        "VERSION": version,
        "WAIT_SECONDS": "60",
        "KUBECTL": str(control_plane.kubectl_path(WORK)),
        "ADMIN_KUBECONFIG": str(KUBECONFIG),
    }
    result = subprocess.run(
        ["sh", "-c", render(script.text, params)],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    return result.stdout


@pytest.fixture
def pod_on_node3() -> Iterator[str]:
    require_lab_up()
    kubectl(
        "run", "drain-probe", "--image=never-pulled.invalid/x", "--restart=Never",
        f"--overrides={json.dumps({'spec': {'nodeName': NODE}})}",
    )  # fmt: skip
    try:
        yield "drain-probe"
    finally:
        kubectl("delete", "pod", "drain-probe", "--ignore-not-found", "--wait=false")
        kubectl("uncordon", NODE)
        kubectl("annotate", "node", NODE, f"{MARK}-")


def test_a_worker_is_drained_for_an_upgrade_and_uncordoned_after(pod_on_node3: str) -> None:
    running = node()["status"]["nodeInfo"]["kubeletVersion"]
    newer = f"{running}-next"

    out = run(UPGRADE_DRAIN, NODE, newer)
    assert f"{running} -> {newer}: draining" in out
    drained = node()
    assert drained["spec"].get("unschedulable") is True
    assert drained["metadata"]["annotations"][MARK] == newer
    deadline = time.monotonic() + 60
    while kubectl("get", "pod", pod_on_node3, "--ignore-not-found").strip():
        assert time.monotonic() < deadline, "the pod on node3 was not evicted"
        time.sleep(1)

    # Another worker's drain for the version it runs changes nothing; node3 has not reached the
    # version it was drained for, so it stays cordoned.
    assert "nothing to do" in run(UPGRADE_DRAIN, "node2", running)
    assert node()["spec"].get("unschedulable") is True
    assert node()["metadata"]["annotations"][MARK] == newer

    # node3's upgrade, played: it now runs the kubelet it was drained for.
    kubectl("annotate", "--overwrite", "node", NODE, f"{MARK}={running}")
    out = run(MEMBER, NODE, running)
    assert f"uncordoned {NODE}" in out
    assert not node()["spec"].get("unschedulable")
    assert MARK not in node()["metadata"].get("annotations", {})
