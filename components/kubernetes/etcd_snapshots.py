"""kubeadm's etcd snapshots: on every control plane a systemd timer runs a program that saves a
checked snapshot of the node's etcd member into `kubernetes.etcdSnapshots.directory` and keeps
the newest `retention` of them. docs/operations.md has the restore runbook."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_command import remote

from config import Node
from config.model import KubeadmEtcdSnapshots

from ..shared.drift import Owned
from ..shared.remote import Scripts, Steps, program
from ..shared.timers import calendar_timer, oneshot_service

_SCRIPTS = Scripts(__file__)
SNAPSHOTS = _SCRIPTS("etcd-snapshots")
# The program the timer runs, installed by the step.
RUN = _SCRIPTS("etcd-snapshot")
RUN_PATH = "/usr/local/sbin/rainbond-ha-etcd-snapshot"
UNIT = "rainbond-ha-etcd-snapshot"


def etcd_snapshot_steps(
    name: str,
    snapshots: KubeadmEtcdSnapshots,
    control_planes: Sequence[tuple[Node, remote.Command]],
    steps: Steps,
    parent: pulumi.Resource,
) -> list[remote.Command]:
    """Each control plane's snapshot timer, installed once its kubeadm step has run there (and,
    when it leaves, removed before it)."""
    service = oneshot_service(
        comment="one snapshot of this control plane's etcd member.",
        description="rainbond-ha etcd snapshot",
        command=RUN_PATH,
        after="kubelet.service",
    )
    timer = calendar_timer(
        comment="when this control plane snapshots its etcd member.",
        description="rainbond-ha etcd snapshots",
        schedule=snapshots.schedule,
    )
    return [
        steps.step(
            f"{name}-etcd-snapshots-{node.name}",
            node,
            SNAPSHOTS,
            parent=parent,
            params={
                "NODE_NAME": node.name,
                "RUN_PATH": RUN_PATH,
                "RUN": program(
                    RUN,
                    {
                        "NODE_NAME": node.name,
                        "DIRECTORY": snapshots.directory,
                        "RETENTION": str(snapshots.retention),
                    },
                ),
                "UNIT": UNIT,
                "SERVICE_TEXT": service,
                "TIMER_TEXT": timer,
                "SCHEDULE": snapshots.schedule,
                "DIRECTORY": snapshots.directory,
            },
            depends_on=[step],
            owns=Owned(
                files=(
                    RUN_PATH,
                    f"/etc/systemd/system/{UNIT}.service",
                    f"/etc/systemd/system/{UNIT}.timer",
                ),
                services=(f"{UNIT}.timer",),
            ),
        )
        for node, step in control_planes
    ]
