"""The whole platform with real Kubernetes: Pulumi.lab.yaml as `make lab` deploys it, kubeadm making
the three lab nodes control planes behind the API VIP, from the lab's own builds of the binaries
and images (an air-gapped artifacts directory).

Checked from the host, through the API VIP, as an operator would: three Ready nodes, three healthy
etcd members, each control plane's etcd snapshot timer and a checked snapshot holding what was
just written, CoreDNS and flannel running; an image pushed to the managed registry runs as a
Deployment with a pod on every node (so each kubelet pulls through the registry trust), and a pod
on node1 reaches one on node3 over the pod network. Then the node holding the API VIP is powered
off: the API answers again through the VIP (the outage is measured and printed), etcd keeps
quorum, the lost node's pod is replaced on the others, and the node rejoins when it starts. A
second `pulumi up` changes nothing. etcd is restored from a snapshot by the runbook (every member
rebuilt, the cluster back to the snapshot's moment). node4 (the lab grown to four nodes) joins as
a worker, runs a pod that the others reach, and leaves clean, only its steps created and deleted.
node3 then leaves Kubernetes (it keeps its registry role): drained, its etcd member removed,
reset, its Node deleted, two control planes serving. Destroy leaves the nodes as the lab image had
them. About 13 minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from components.kubernetes.etcd_snapshots import UNIT as SNAPSHOT_UNIT
from config.model import KubeadmEtcdSnapshots
from lab.kube.images import Image, build
from lab.labctl import boot_node, halt_node, node_address, node_root
from tests.lab_stacks.audit import differences, documented_leftovers, node_items, undocumented
from tests.lab_stacks.harness import lab_nodes, lab_stack_file, set_section
from tests.lab_stacks.kubeadm import (
    API_VIP,
    FAILOVER_BUDGET_SECONDS,
    NODES,
    Cluster,
    answers_readyz,
    etcd_members,
    kubeadm_platform,
    on,
    readyz,
    vip_holder,
    wait_until,
)
from tests.lab_stacks.probes import Manifest, Probe
from tests.lab_stacks.rolling import record_operation

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
    pytest.mark.kubeadm,
]

PUSH_DOMAIN = f"{node_address('node3')}:5080"
PROBE_IMAGE = f"{PUSH_DOMAIN}/rainbond/kubeadm-probe:1"
WORKER = "node4"
SNAPSHOTS = KubeadmEtcdSnapshots().directory


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with kubeadm_platform("kubeadm", tmp_path_factory.mktemp("kubeadm")) as platform:
        yield platform


def test_three_ready_control_planes_through_the_api_vip(cluster: Cluster) -> None:
    assert f"https://{API_VIP}:6443" in cluster.kubeconfig.read_text()
    assert cluster.ready_nodes() == set(NODES)
    nodes = cluster.json("get", "nodes")["items"]
    assert all("node-role.kubernetes.io/control-plane" in n["metadata"]["labels"] for n in nodes)
    # Masters run workloads too: no control-plane taint (nor a kubelet's, e.g. DiskPressure when
    # the host's disk, which the lab nodes share, has under 15 % free).
    taints = {n["metadata"]["name"]: n["spec"].get("taints") for n in nodes}
    assert taints == dict.fromkeys(NODES), taints


def test_three_healthy_etcd_members(cluster: Cluster) -> None:
    members = etcd_members("node2")
    assert sorted(m["name"] for m in members) == sorted(NODES)
    assert all(m["health"] == "true" for m in members), members


def test_every_control_plane_snapshots_its_etcd(cluster: Cluster) -> None:
    """Each control plane has a snapshot (its step takes one when it finds none) and its timer
    waiting; a run of the timer's service saves a snapshot that holds a ConfigMap made just
    before, with the SHA-256 etcd sent (what `etcdutl snapshot restore` checks)."""
    marker = f"snapshot-probe-{int(time.time())}"
    cluster.kubectl("create", "configmap", marker, "-n", "default")
    for node in NODES:
        assert on(node, f"systemctl is-active {SNAPSHOT_UNIT}.timer").strip() == "active"
        # Earlier deployments' snapshots stay on the node (they are data); the step took one
        # when there were none.
        first, taken = take_snapshot(node)
        assert first and all(name.startswith(f"etcd-{node}-") for name in first), first
        data = snapshot_file(node, taken).read_bytes()
        print(f"{node}: {taken}, {len(data) // 1024} KiB")
        assert hashlib.sha256(data[:-32]).digest() == data[-32:]
        assert f"/registry/configmaps/default/{marker}".encode() in data
    cluster.kubectl("delete", "configmap", marker, "-n", "default")


def take_snapshot(node: str) -> tuple[set[str], str]:
    """Runs the snapshot timer's service on `node`: the snapshots there before, and the new one."""
    before = set(on(node, f"ls {SNAPSHOTS}").split())
    on(node, f"systemctl start {SNAPSHOT_UNIT}.service")
    (taken,) = set(on(node, f"ls {SNAPSHOTS}").split()) - before
    return before, taken


def snapshot_file(node: str, name: str) -> Path:
    """A snapshot in `node`'s snapshot directory, seen from the lab's host."""
    return node_root(node) / SNAPSHOTS.lstrip("/") / name


def test_coredns_and_flannel_run(cluster: Cluster) -> None:
    # CoreDNS starts once the pod network runs, which `up` waits for; its readiness may lag.
    took = wait_until(
        "both CoreDNS pods ready",
        lambda: len(cluster.running_pods("-n", "kube-system", "-l", "k8s-app=kube-dns")) == 2,
        180,
    )
    print(f"CoreDNS: both pods ready {took:.0f} s after up")
    assert sorted(
        cluster.running_pods("-n", "kube-flannel", "-l", "app=flannel").values()
    ) == sorted(NODES)


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: kubeadm-probe, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: kubeadm-probe}}
  template:
    metadata: {labels: {app: kubeadm-probe}}
    spec:
      imagePullSecrets: [{name: lab-registry}]
      topologySpreadConstraints:
      # One pod a node; a lost node (tainted unreachable) no longer counts.
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         nodeTaintsPolicy: Honor, labelSelector: {matchLabels: {app: kubeadm-probe}}}
      # A lost node's pod is replaced after 10 s, not the default 5 minutes.
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute,
         tolerationSeconds: 10}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute,
         tolerationSeconds: 10}
      containers:
      - name: httpd
        image: %s
        command: [/bin/busybox, httpd, -f, -p, "8080", -h, /etc]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
"""


@pytest.fixture(scope="module")
def probe_deployment(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """busybox (from Debian's busybox-static) pushed to the managed registry the way Rainbond's
    builds push, and run with a pod on every node."""
    images = tmp_path_factory.mktemp("probe-image")
    image = Image(PROBE_IMAGE, {}, entrypoint=("/bin/sh",), userland=True)
    build([image], images)
    registry = cluster.outputs["registry"].value
    assert registry["pushDomain"] == PUSH_DOMAIN
    pushed = Manifest(PUSH_DOMAIN, registry["username"], registry["password"], ca_pem=None)
    pushed.push_layout("rainbond/kubeadm-probe", "1", images / image.archive)
    cluster.kubectl(
        "create", "secret", "docker-registry", "lab-registry",
        f"--docker-server={PUSH_DOMAIN}",
        f"--docker-username={registry['username']}",
        f"--docker-password={registry['password']}",
    )  # fmt: skip
    cluster.kubectl("apply", "-f", "-", stdin=DEPLOYMENT % PROBE_IMAGE)
    took = wait_until(
        "three probe pods running",
        lambda: sorted(cluster.running_pods("-l", "app=kubeadm-probe").values()) == sorted(NODES),
        300,
    )
    print(f"probe Deployment: a pod running on every node after {took:.0f} s")
    return "app=kubeadm-probe"


def test_every_kubelet_pulls_from_the_managed_registry(
    cluster: Cluster, probe_deployment: str
) -> None:
    pods = cluster.json("get", "pods", "-l", probe_deployment)["items"]
    assert {p["spec"]["nodeName"] for p in pods} == set(NODES)
    for pod in pods:
        (status,) = pod["status"]["containerStatuses"]
        assert status["image"] == PROBE_IMAGE and status["imageID"], status


def test_a_pod_on_node1_reaches_a_pod_on_node3(cluster: Cluster, probe_deployment: str) -> None:
    pods = cluster.json("get", "pods", "-l", probe_deployment)["items"]
    by_node = {p["spec"]["nodeName"]: p for p in pods}
    target = by_node["node3"]["status"]["podIP"]
    answer = hostname_served(cluster, by_node["node1"]["metadata"]["name"], target)
    assert answer == by_node["node3"]["metadata"]["name"]


def hostname_served(cluster: Cluster, from_pod: str, address: str) -> str:
    """The probe httpd's /hostname at `address`, asked from inside `from_pod` (busybox-static's
    wget crashes; its nc does the request)."""
    request = f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc {address} 8080"
    page = cluster.kubectl("exec", from_pod, "--", "/bin/busybox", "sh", "-c", request)
    return page.splitlines()[-1].strip() if page else ""


def test_losing_the_api_vip_holder(cluster: Cluster, probe_deployment: str) -> None:
    holder = vip_holder(NODES)
    survivors = [n for n in NODES if n != holder]
    pods = cluster.running_pods("-l", probe_deployment)
    lost_pod = next(name for name, node in pods.items() if node == holder)
    probe = Probe("API through the VIP", 0.1, readyz)
    probe.start()
    try:
        halt_node(holder)
        wait_until("the API through the VIP", answers_readyz, 60)
        # Until it has answered for a while after the holder went.
        time.sleep(2)
        report = probe.stop()
        print(f"{holder} powered off: {report}")
        assert report.outcomes[-1].ok and report.longest_outage <= FAILOVER_BUDGET_SECONDS
        assert vip_holder(survivors) in survivors
        # etcd keeps quorum (two of three members): the API reads and writes.
        assert "[+]etcd ok" in cluster.kubectl("get", "--raw", "/readyz?verbose")
        cluster.kubectl("create", "configmap", f"written-without-{holder}")
        took = wait_until(
            f"the pod on {holder} replaced on the others",
            lambda: (
                set(cluster.running_pods("-l", probe_deployment)) - {lost_pod}
                == set(cluster.running_pods("-l", probe_deployment))
                and len(cluster.running_pods("-l", probe_deployment)) == 3
            ),
            240,
        )
        print(f"probe pod on {holder}: replaced on {survivors} after {took:.0f} s")
        assert set(cluster.running_pods("-l", probe_deployment).values()) <= set(survivors)
    finally:
        if probe.is_alive():
            probe.stop()
        boot_node(holder)
    took = wait_until(f"{holder} Ready again", lambda: cluster.ready_nodes() == set(NODES), 300)
    print(f"{holder}: Ready again {took:.0f} s after it started")
    wait_until(
        "every etcd member healthy",
        lambda: all(m["health"] == "true" for m in etcd_members(holder)),
        120,
    )


def test_a_second_up_changes_nothing(cluster: Cluster) -> None:
    changes = cluster.stack.preview(color="never").change_summary
    assert set(changes) == {"same"}, changes
    result = cluster.stack.up(color="never")
    assert set(result.summary.resource_changes or {}) == {"same"}, result.summary.resource_changes


def test_etcd_restored_from_a_snapshot_by_the_runbook(cluster: Cluster) -> None:
    """docs/operations.md, "Restoring etcd from a snapshot (kubeadm)", step by step on the three
    control planes: what was written after the snapshot is gone, what was written before it is
    there, three healthy members, every node Ready, and Pulumi sees nothing to change."""
    cluster.kubectl("create", "configmap", "before-the-snapshot")
    _, snapshot = take_snapshot("node1")
    cluster.kubectl("create", "configmap", "after-the-snapshot")
    started = time.monotonic()
    # 1. The same file on every control plane (the lab's host stands in for scp).
    data = snapshot_file("node1", snapshot).read_bytes()
    for node in NODES[1:]:
        copy = snapshot_file(node, snapshot)
        copy.write_bytes(data)
        copy.chmod(0o600)
    # 2. The API servers and etcd stopped everywhere.
    manifests = "/etc/kubernetes/manifests"
    for node in NODES:
        on(node, f"mkdir -p {manifests}.stopped && mv {manifests}/etcd.yaml "
                 f"{manifests}/kube-apiserver.yaml {manifests}.stopped/")  # fmt: skip
    for node in NODES:
        wait_until(f"etcd and the API stopped on {node}", partial(stopped, node), 120)
    # 3. Every member rebuilt from the snapshot.
    cluster_flag = ",".join(f"{n}=https://{node_address(n)}:2380" for n in NODES)
    for node in NODES:
        image = on(node, "ctr -n k8s.io images ls -q | grep '/etcd:' | head -n 1").strip()
        on(node, "mv /var/lib/etcd /var/lib/etcd.before-restore && "
                 "ctr -n k8s.io run --rm --net-host "
                 "--mount type=bind,src=/var/lib,dst=/var/lib,options=rbind:rw "
                 f"--mount type=bind,src={SNAPSHOTS},dst=/snapshots,options=rbind:ro "
                 f"{image} etcd-restore etcdutl snapshot restore /snapshots/{snapshot} "
                 f"--name {node} --initial-cluster {cluster_flag} "
                 f"--initial-advertise-peer-urls https://{node_address(node)}:2380 "
                 "--data-dir /var/lib/etcd")  # fmt: skip
    # 4. The manifests back; the API through the VIP.
    for node in NODES:
        on(node, f"mv {manifests}.stopped/*.yaml {manifests}/ && rmdir {manifests}.stopped")
    wait_until("the API through the VIP", answers_readyz, 300)
    # 5. Nothing keeps state newer than the snapshot.
    for node in NODES:
        on(node, "systemctl restart kubelet")
    for component in ("kube-controller-manager", "kube-scheduler"):
        cluster.kubectl("-n", "kube-system", "delete", "pod", "-l", f"component={component}")
    wait_until("every node Ready", lambda: cluster.ready_nodes() == set(NODES), 300)
    print(f"etcd restored from {snapshot}: the API and every node back after "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip

    configmaps = cluster.kubectl("get", "configmaps", "-o", "name")
    assert "configmap/before-the-snapshot" in configmaps.split()
    assert "configmap/after-the-snapshot" not in configmaps.split()
    members = etcd_members("node1")
    assert sorted(m["name"] for m in members) == sorted(NODES)
    assert all(m["health"] == "true" for m in members), members
    # 6. Pulumi finds the cluster as it left it; the old data goes.
    assert set(cluster.stack.preview(color="never").change_summary) == {"same"}
    for node in NODES:
        on(node, "rm -rf /var/lib/etcd.before-restore")
    cluster.kubectl("delete", "configmap", "before-the-snapshot")


def stopped(node: str) -> bool:
    """Nothing listens on etcd's client port or the API's."""
    return on(node, "ss -Hltn '( sport = :2379 or sport = :6443 )'").strip() == ""


def test_a_worker_joins_and_leaves(cluster: Cluster, probe_deployment: str) -> None:
    """node4 joins as a worker (kubeadm join through the API VIP), runs a pod of the registry's
    image that a pod on a control plane reaches, then leaves: drained and deleted from the first
    control plane, reset, and left as the lab image had it. Only node4's steps are created or
    deleted, and the API answers through the VIP throughout."""
    lab_nodes(4)
    try:
        before = node_items(WORKER)
        nodes = lab_stack_file()["config"]["rainbond-ha:nodes"]
        worker = {"name": WORKER, "address": node_address(WORKER), "roles": ["worker"]}
        set_section(cluster.stack, "nodes", [*nodes, worker])
        joined = only_node4_changes(cluster, "create")
        print(f"{WORKER} joined: {len(joined)} steps created")
        assert cluster.ready_nodes() == {*NODES, WORKER}
        pod = {"spec": {"nodeName": WORKER, "imagePullSecrets": [{"name": "lab-registry"}]}}
        cluster.kubectl(
            "run", "on-node4", f"--image={PROBE_IMAGE}", "--restart=Never",
            f"--overrides={json.dumps(pod)}",
            "--command", "--", "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/etc",
        )  # fmt: skip
        wait_until("a pod on node4", lambda: bool(cluster.running_pods("-l", "run=on-node4")), 180)
        target = cluster.json("get", "pod", "on-node4")["status"]["podIP"]
        # The probe's pods are on the control planes (which ones depends on the power-off above).
        client, node = next(iter(cluster.running_pods("-l", probe_deployment).items()))
        assert node in NODES
        assert hostname_served(cluster, client, target) == "on-node4"

        set_section(cluster.stack, "nodes", nodes)
        left = only_node4_changes(cluster, "delete")
        print(f"{WORKER} left: {len(left)} steps deleted")
        assert cluster.ready_nodes() == set(NODES)
        assert cluster.kubectl("get", "node", WORKER, check=False) == ""
        assert undocumented(differences(before, node_items(WORKER))) == {}
        assert set(cluster.stack.preview(color="never").change_summary) == {"same"}
    finally:
        lab_nodes(3)


def only_node4_changes(cluster: Cluster, operation: str) -> list[str]:
    """Runs `up` with the API probed through the VIP; every step created or deleted is node4's
    (as `operation` says), the others are the same or updated in place."""
    operations: list[tuple[str, str]] = []
    probe = Probe("API through the VIP", 0.1, readyz)
    probe.start()
    try:
        cluster.stack.up(
            color="never", on_output=print, on_event=partial(record_operation, operations)
        )
    finally:
        report = probe.stop()
    print(report)
    assert report.longest_outage <= FAILOVER_BUDGET_SECONDS
    changed = [(op, name) for op, name in operations if op not in ("same", "update", "read")]
    assert changed and all(op == operation and WORKER in name for op, name in changed), changed
    return [name for _, name in changed]


def nodes_with_node3_as(node3_roles: list[str]) -> list[dict[str, Any]]:
    return [
        {**node, "roles": node3_roles} if node["name"] == "node3" else node
        for node in lab_stack_file()["config"]["rainbond-ha:nodes"]
    ]


def test_node3_does_not_become_a_worker_in_place(cluster: Cluster) -> None:
    """A control plane made a worker by the stack: the worker step (created before the control
    plane's is deleted) stops the `up` and leaves node3 a control plane."""
    set_section(cluster.stack, "nodes", nodes_with_node3_as(["worker", "registry"]))
    with pytest.raises(auto.CommandError) as failed:
        cluster.stack.up(color="never", on_output=print)
    assert "this node is a control-plane of the cluster and the stack makes it a worker" in str(
        failed.value
    )
    assert cluster.ready_nodes() == set(NODES)
    assert sorted(m["name"] for m in etcd_members("node1")) == sorted(NODES)


def test_node3_leaving_kubernetes(cluster: Cluster, probe_deployment: str) -> None:
    """node3 keeps only its registry role: drained, its etcd member removed, reset, its Node
    deleted; the two control planes left keep serving, and `up` warns they are not fault
    tolerant."""
    set_section(cluster.stack, "nodes", nodes_with_node3_as(["registry"]))
    lines: list[str] = []
    result = cluster.stack.up(color="never", on_output=lines.append)
    output = "".join(lines)
    changes = {str(kind): count for kind, count in (result.summary.resource_changes or {}).items()}
    assert changes.get("delete") and "replace" not in changes, changes
    assert "2 node(s) have the role master" in output
    survivors = {"node1", "node2"}
    assert cluster.ready_nodes() == survivors
    assert cluster.kubectl("get", "node", "node3", check=False) == ""
    members = etcd_members("node1")
    assert sorted(m["name"] for m in members) == sorted(survivors), members
    assert all(m["health"] == "true" for m in members), members
    took = wait_until(
        "the probe's three pods on node1 and node2",
        lambda: (
            len(pods := cluster.running_pods("-l", probe_deployment)) == 3
            and set(pods.values()) == survivors
        ),
        180,
    )
    print(f"probe pods: all on {sorted(survivors)} {took:.0f} s after up")
    left = on("node3", "ls -d /etc/kubernetes /var/lib/etcd /var/lib/kubelet 2>/dev/null; true")
    assert left.strip() == "", left
    assert "inactive" in on("node3", "systemctl is-active kubelet containerd; true")
    assert set(cluster.stack.preview(color="never").change_summary) == {"same"}


def test_destroy_leaves_the_nodes_as_the_image_had_them(cluster: Cluster) -> None:
    cluster.stack.destroy(color="never", on_output=print)
    leftovers = documented_leftovers()
    for node in NODES:
        changed = differences(cluster.before[node], node_items(node))
        assert undocumented(changed) == {}, (node, changed, leftovers)
