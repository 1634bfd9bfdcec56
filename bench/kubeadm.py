"""kubeadm's HA Kubernetes on the lab nodes: the time from an empty stack to a Ready three-node
cluster, and the API's unavailability through the VIP when the node holding it is powered off.

Each trial powers the VIP's holder off (`lab/lab stop-node`, a clean shutdown), probes the API's
/readyz through the VIP from the host every 50 ms until it has answered for a second again, and
records the longest run of failed calls; then the node starts again and the next trial waits
until all three nodes are Ready and every etcd member is healthy, so every trial starts from a
whole cluster.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from lab.labctl import boot_node, halt_node
from tests.lab_stacks.kubeadm import (
    NODES,
    Cluster,
    answers_readyz,
    etcd_members,
    kubeadm_platform,
    readyz,
    vip_holder,
    wait_until,
)
from tests.lab_stacks.probes import Probe

TRIALS = 20
POLL_SECONDS = 0.05
ANSWER_TIMEOUT = 60
WHOLE_TIMEOUT = 300


def _whole(cluster: Cluster) -> bool:
    try:
        return cluster.ready_nodes() == set(NODES) and all(
            member["health"] == "true" for member in etcd_members(NODES[0])
        )
    except AssertionError:  # kubectl or a member not answering yet, on a node still starting
        return False


def trial(cluster: Cluster) -> float:
    holder = vip_holder(NODES)
    probe = Probe("API through the VIP", POLL_SECONDS, readyz)
    probe.start()
    try:
        halt_node(holder)
        wait_until("the API through the VIP", answers_readyz, ANSWER_TIMEOUT)
        time.sleep(1)
    finally:
        report = probe.stop()
        boot_node(holder)
    wait_until("three Ready nodes and a healthy etcd", lambda: _whole(cluster), WHOLE_TIMEOUT)
    return report.longest_outage


def measure(trials: int = TRIALS) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as scratch,
        kubeadm_platform("bench-kubeadm", Path(scratch)) as cluster,
    ):
        ready = wait_until("three Ready nodes", lambda: cluster.ready_nodes() == set(NODES), 300)
        outages = [trial(cluster) for _ in range(trials)]
    return {
        "up": cluster.up_seconds,
        "ready": cluster.up_seconds + ready,
        "outages": outages,
        "min": min(outages),
        "median": statistics.median(outages),
        "max": max(outages),
    }
