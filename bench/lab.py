"""The lab benchmarks: the platform deployed from nothing, a no-op up, VIP failover, replica lag,
database backup and restore times, then changes rolling through a serving platform (day2.py), then
kubeadm's cluster and its API VIP (kubeadm.py).

One stack of the whole platform (the lab stack's configuration, with the gateway check on the
stand-in gateway's port) in a scratch project and state, destroyed at the end (the lab stack
deletes the database and registry data on destroy).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import backup, day2, deploy, failover, kubeadm, replica_lag
from lab.labctl import require_lab_up
from tests.lab_stacks.gateway import GATEWAY_PORT
from tests.lab_stacks.harness import component_stack, lab_config

STACK = "bench-platform"


def platform() -> dict[str, Any]:
    require_lab_up()
    config = lab_config()
    gateway = {**config["rainbond-ha:gateway"], "checkPorts": [GATEWAY_PORT]}
    database = config["rainbond-ha:database"]
    with tempfile.TemporaryDirectory() as scratch:
        stack = component_stack(STACK, Path(scratch), ["platform"], {"gateway": gateway})
        try:
            figures: dict[str, Any] = {"up": deploy.first_up(stack)}
            figures["noop"] = deploy.noop_up(stack)
            figures["failover"] = failover.measure()
            figures["lag"] = replica_lag.measure(database["source"], database["replica"])
            figures["backup"] = backup.measure(database["source"], database["replica"])
            return figures
        finally:
            stack.destroy(color="never")
            stack.workspace.remove_stack(stack.name)


# Each part is kept as it finishes (bench/report.py), so one that fails costs only its own run;
# each deploys its own stack once the one before is gone.
PARTS: dict[str, Callable[[], dict[str, Any]]] = {
    "platform": platform,
    "day2": day2.measure,
    "kubeadm": kubeadm.measure,
}
