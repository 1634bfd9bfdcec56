"""kubeadm mode without a cluster: the configuration files it renders, the order of its steps, what
reaches a node's command line, and what `pulumi up` would do on day 2 (tests/unit/plan.py). The
cluster itself runs in the lab (tests/lab_stacks/test_kubeadm.py)."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kubernetes import etcd_snapshots, kubeadm_config
from components.kubernetes.admin import UPGRADE_DRAIN
from components.shared.remote import render
from config.model import KubeadmKubernetes
from tests.unit.conftest import (
    Deployment,
    assert_in_order,
    depends_on,
    deploy,
    edited,
    is_secret,
    unwrap,
)
from tests.unit.edits import added_node, findings, put
from tests.unit.plan import COMMAND, plan
from tests.unit.test_kubernetes import rendered_params

KUBEADM = {
    "mode": "kubeadm",
    "apiAddress": "192.0.2.20/24",
    "apiKeepalived": {"interface": "eth0", "virtualRouterId": 52},
}
MASTERS = ["rbd-1", "rbd-2", "rbd-3"]
WORKERS = ["rbd-6", "rbd-7"]
CHAIN = [f"kubernetes-control-plane-{n}" for n in MASTERS] + [
    f"kubernetes-worker-{n}" for n in WORKERS
]


def _with_workers(config: dict[str, Any]) -> None:
    config["kubernetes"] = dict(KUBEADM)
    for index, name in enumerate(WORKERS, start=16):
        config["nodes"].append(added_node(name, index, "worker"))


@pytest.fixture
def kubeadm_config_(dev_config: dict[str, Any]) -> dict[str, Any]:
    return edited(dev_config, _with_workers)


@pytest.fixture
def deployed(kubeadm_config_: dict[str, Any]) -> Deployment:
    return deploy(kubeadm_config_)


def spec(**keys: Any) -> KubeadmKubernetes:
    return KubeadmKubernetes.model_validate({**KUBEADM, **keys})


def documents(text: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(text)}


# --------------------------------------------------------------------------- renders


def test_init_config_names_the_api_address_and_holds_no_secret() -> None:
    node = kubeadm_config.NodeInfo("rbd-1", "192.0.2.11", control_plane=True)
    docs = documents(kubeadm_config.init_config(spec(podSubnet="10.32.0.0/16"), node))
    init, cluster = docs["InitConfiguration"], docs["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == "192.0.2.20:6443"
    assert cluster["networking"] == {"podSubnet": "10.32.0.0/16", "serviceSubnet": "10.96.0.0/12"}
    assert cluster["kubernetesVersion"] == "v1.36.1"
    assert init["bootstrapTokens"][0]["token"] == kubeadm_config.TOKEN
    assert init["bootstrapTokens"][0]["ttl"] == "0s"
    assert init["certificateKey"] == kubeadm_config.CERTIFICATE_KEY
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.0.2.11", "bindPort": 6443}
    # Masters run workloads: no control-plane taint.
    assert init["nodeRegistration"]["taints"] == []
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    assert docs["KubeProxyConfiguration"]["conntrack"] == {"maxPerCore": 32768}


def test_the_etcd_tag_and_image_repository_are_passed_on() -> None:
    node = kubeadm_config.NodeInfo("rbd-1", "192.0.2.11", control_plane=True)
    kubernetes = spec(imageRepository="mirror.example/k8s", etcdImageTag="3.6.16-0")
    cluster = documents(kubeadm_config.init_config(kubernetes, node))["ClusterConfiguration"]
    assert cluster["imageRepository"] == "mirror.example/k8s"
    assert cluster["etcd"]["local"]["imageTag"] == "3.6.16-0"
    without = documents(kubeadm_config.init_config(spec(), node))["ClusterConfiguration"]
    assert "imageTag" not in without["etcd"]["local"]


@pytest.mark.parametrize("control_plane", [True, False])
def test_join_config_trusts_the_ca_hash(control_plane: bool) -> None:
    node = kubeadm_config.NodeInfo("rbd-2", "192.0.2.12", control_plane)
    (join,) = yaml.safe_load_all(kubeadm_config.join_config(spec(), node, "sha256:ab"))
    discovery = join["discovery"]["bootstrapToken"]
    assert discovery == {
        "apiServerEndpoint": "192.0.2.20:6443",
        "token": kubeadm_config.TOKEN,
        "caCertHashes": ["sha256:ab"],
    }
    assert ("controlPlane" in join) == control_plane
    if control_plane:
        assert join["controlPlane"]["certificateKey"] == kubeadm_config.CERTIFICATE_KEY
    else:
        assert "taints" not in join["nodeRegistration"]


@pytest.mark.parametrize(("driver", "systemd"), [("systemd", True), ("cgroupfs", False)])
def test_containerd_config(driver: str, systemd: bool) -> None:
    text = kubeadm_config.containerd_config(spec(cgroupDriver=driver))
    parsed = tomllib.loads(text.replace(kubeadm_config.RESTRICT_OOM, "false"))
    cri = parsed["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10.2"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is systemd
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert cri["cni"]["bin_dir"] == "/opt/cni/bin"


# --------------------------------------------------------------------------- the steps


def test_control_planes_then_workers_one_at_a_time(deployed: Deployment) -> None:
    for previous, step in itertools.pairwise(CHAIN):
        if step.startswith("kubernetes-worker-"):
            # A worker's drain for an upgrade comes between it and the link before.
            drain = deployed.named(step.replace("-worker-", "-drain-"))
            assert depends_on(deployed, drain, previous) and depends_on(
                deployed, deployed.named(step), drain.name
            ), step
        else:
            assert depends_on(deployed, deployed.named(step), previous), step
    first = rendered_params(deployed.named(CHAIN[0]))
    assert first["BOOTSTRAP"] == "1" and first["JOIN_CONFIG"] == ""
    assert first["SERVERS"] == " ".join(MASTERS)
    for name in CHAIN[1:]:
        params = rendered_params(deployed.named(name))
        assert params["BOOTSTRAP"] == "" and params["INIT_CONFIG"] == ""
        assert "JoinConfiguration" in params["JOIN_CONFIG"]


def test_secrets_travel_on_stdin_only(deployed: Deployment) -> None:
    for name in CHAIN:
        step = deployed.named(name)
        assert is_secret(step.inputs["stdin"]), name
        create = str(unwrap(step.inputs["create"]))
        assert kubeadm_config.TOKEN in create or name.startswith("kubernetes-worker")
        assert "--token" not in create and "--certificate-key" not in create
    # The token and the key are generated once and kept as secrets.
    for name in ("kubernetes-token-id", "kubernetes-token-secret", "kubernetes-certificate-key"):
        assert deployed.named(name).type.startswith("random:")


def test_a_version_bump_updates_every_node_in_place(
    kubeadm_config_: dict[str, Any], deployed: Deployment
) -> None:
    after = deploy(edited(kubeadm_config_, put("kubernetes.version", "v1.36.2")))
    changes = plan(deployed, after, COMMAND)
    assert {changes[name] for name in CHAIN} == {"update"}
    assert "replace" not in changes.values() and "delete" not in changes.values()
    create = str(unwrap(after.named(CHAIN[1]).inputs["create"]))
    assert "kubeadm upgrade apply" in create and "kubeadm upgrade node" in create
    # A control plane is drained while its kubelet changes, and uncordoned once healthy.
    assert_in_order(
        create,
        "kubeadm upgrade node",
        'touch "${drained}"',
        'drain_node "${NODE_NAME}"',
        "systemctl stop kubelet",
        'wait_for "every etcd member healthy"',
        'kube uncordon "${NODE_NAME}"',
    )
    assert "kubeadm reset" in create  # only for leftovers of a failed join, never a member
    assert create.index("if [ ! -f /etc/kubernetes/kubelet.conf ]; then") < create.index(
        "kubeadm reset"
    )


def test_only_a_leaving_node_resets(deployed: Deployment) -> None:
    for name in CHAIN:
        delete = str(unwrap(deployed.named(name).inputs["delete"]))
        assert "kubeadm reset -f" in delete and "packages_remove kubernetes" in delete
    delete = str(unwrap(deployed.named(CHAIN[1]).inputs["delete"]))
    # reset deletes admin.conf and this node's API: the Node goes after it, through a peer's
    # API with a copy of the credentials made before.
    assert_in_order(
        delete,
        'install -m 0600 "${admin}" "${credentials}"',
        'drain_node "${NODE_NAME}"',
        "kubeadm reset -f",
        'kube delete node "${NODE_NAME}"',
    )
    assert '--kubeconfig "${credentials}" --server "https://${peer}:' in delete


def test_workers_are_drained_from_the_first_control_plane(deployed: Deployment) -> None:
    for worker in WORKERS:
        member = deployed.named(f"kubernetes-member-{worker}")
        params = rendered_params(member)
        assert params["ADMIN_KUBECONFIG"] == "/etc/kubernetes/admin.conf"
        assert depends_on(deployed, member, f"kubernetes-worker-{worker}")
        assert depends_on(deployed, member, "kubernetes-flannel")


def test_a_version_bump_drains_each_worker_just_before_its_step(
    kubeadm_config_: dict[str, Any], deployed: Deployment
) -> None:
    after = deploy(edited(kubeadm_config_, put("kubernetes.version", "v1.36.2")))
    changes = plan(deployed, after, COMMAND)
    assert {changes[f"kubernetes-drain-{worker}"] for worker in WORKERS} == {"update"}
    drain = after.named(f"kubernetes-drain-{WORKERS[0]}")
    assert rendered_params(drain)["ADMIN_KUBECONFIG"] == "/etc/kubernetes/admin.conf"
    assert drain.inputs.get("delete") is None  # leaving is the member step's


# A kubectl that records its calls: worker rbd-6 runs KUBELET; `get nodes` prints NODES.
KUBECTL = """#!/bin/bash
echo "${*:3}" >>"$CALLS"
case "$*" in
*" get nodes "*) printf '%b' "$NODES" ;;
*" get node "*) [ -n "$KUBELET" ] && printf '%s' "$KUBELET" || exit 1 ;;
esac
"""


def run_drain(tmp_path: Path, kubelet: str, nodes: str) -> list[str]:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(KUBECTL)
    kubectl.chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    params = {"NODE_NAME": "rbd-6", "VERSION": "v1.36.2", "KUBECTL": str(kubectl)}
    script = render(UPGRADE_DRAIN.text, {**params, "ADMIN_KUBECONFIG": "/admin.conf"})
    env = {**os.environ, "CALLS": str(calls), "KUBELET": kubelet, "NODES": nodes}
    result = subprocess.run(shlex.split(script), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split(" -o ")[0] for line in calls.read_text().splitlines()]


def test_a_worker_on_the_old_kubelet_is_marked_cordoned_and_drained(tmp_path: Path) -> None:
    # rbd-7, drained by the link before, runs the new kubelet and is Ready: it is uncordoned.
    nodes = "rbd-7|v1.36.2|v1.36.2|True\\nrbd-6||v1.36.1|True\\n"
    calls = run_drain(tmp_path, "v1.36.1", nodes)
    assert calls[1:] == [
        "uncordon rbd-7",
        "annotate node rbd-7 rainbond-ha/drained-for-upgrade-",
        "get node rbd-6",
        "annotate --overwrite node rbd-6 rainbond-ha/drained-for-upgrade=v1.36.2",
        "cordon rbd-6",
        "drain rbd-6 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s",
    ]


@pytest.mark.parametrize("kubelet", ["v1.36.2", ""], ids=["upgraded", "not joined"])
def test_a_worker_on_the_new_kubelet_or_not_joined_is_left_alone(
    tmp_path: Path, kubelet: str
) -> None:
    # A node drained for the version it does not run yet stays cordoned.
    nodes = "rbd-7|v1.36.2|v1.36.1|True\\n"
    assert run_drain(tmp_path, kubelet, nodes)[1:] == ["get node rbd-6"]


def test_flannel_runs_the_pod_subnet(kubeadm_config_: dict[str, Any]) -> None:
    deployment = deploy(edited(kubeadm_config_, put("kubernetes.podSubnet", "10.32.0.0/16")))
    settings = deployment.named("kubernetes-flannel-config")
    net = yaml.safe_load(unwrap(settings.inputs["data"])["net-conf.json"])
    assert net == {"Network": "10.32.0.0/16", "Backend": {"Type": "vxlan"}}
    daemonset = deployment.named("kubernetes-flannel")
    images = {
        c["image"]
        for key in ("initContainers", "containers")
        for c in unwrap(daemonset.inputs["spec"])["template"]["spec"][key]
    }
    assert images == {
        "ghcr.io/flannel-io/flannel:v0.28.10",
        "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
    }


def test_artifacts_dir_must_hold_the_binaries_and_images(
    kubeadm_config_: dict[str, Any], tmp_path: Path
) -> None:
    config = edited(kubeadm_config_, put("kubernetes.artifactsDir", str(tmp_path)))
    found = [f for f in findings(config) if "kubernetes.artifactsDir" in f]
    assert any("bin/kubeadm, bin/kubelet, bin/kubectl" in f for f in found), found
    assert any("images/*.tar" in f for f in found), found
    (tmp_path / "bin").mkdir()
    for binary in ("kubeadm", "kubelet", "kubectl"):
        (tmp_path / "bin" / binary).write_text("")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "pause.tar").write_text("")
    assert [f for f in findings(config) if "kubernetes.artifactsDir" in f] == []


def test_a_node_in_the_other_role_stops_the_step_before_anything_changes(
    deployed: Deployment,
) -> None:
    """Pulumi creates a node's step of its new role before it deletes the old role's step."""
    for name in CHAIN:
        create = str(unwrap(deployed.named(name).inputs["create"]))
        guard = create.index('[ "${joined}" != "${ROLE}" ]')
        assert guard < create.index("packages_install kubernetes")
        assert guard < create.index("kubeadm join") and guard < create.index("kubeadm reset")


# --------------------------------------------------------------------------- etcd snapshots


def test_each_control_plane_snapshots_after_its_own_step(deployed: Deployment) -> None:
    timers = {r.name for r in deployed.registrations.values() if r.type == "command:remote:Command"}
    assert {n for n in timers if "etcd-snapshots" in n} == {
        f"kubernetes-etcd-snapshots-{master}" for master in MASTERS
    }
    for master in MASTERS:
        step = deployed.named(f"kubernetes-etcd-snapshots-{master}")
        assert depends_on(deployed, step, f"kubernetes-control-plane-{master}")
        params = rendered_params(step)
        assert "OnCalendar=*-*-* 00/6:00:00" in params["TIMER_TEXT"]
        assert params["DIRECTORY"] == "/var/backups/rainbond-ha/etcd"
        assert "RETENTION=28" in params["RUN"]
    # Leaving removes the timer; the snapshots are data and stay.
    delete = etcd_snapshots.SNAPSHOTS.delete.text
    assert 'systemctl disable --now --quiet "${UNIT}.timer"' in delete
    assert not re.search(r"rm [^\n]*\$\{DIRECTORY", delete)


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("schedule", "0 */6 * * *; reboot", "kubernetes.etcdSnapshots.schedule: "),
        ("retention", 0, "kubernetes.etcdSnapshots.retention: 0 is out of range"),
        ("s3", {"bucket": "b"}, "kubernetes.etcdSnapshots.s3: "),
    ],
)
def test_bad_snapshot_settings_name_their_key(
    kubeadm_config_: dict[str, Any], key: str, value: Any, line: str
) -> None:
    found = findings(edited(kubeadm_config_, put("kubernetes.etcdSnapshots", {key: value})))
    assert any(f.startswith(line) for f in found), found
