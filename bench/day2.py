"""Day-2 figures: what the probes saw while a change rolled through a serving platform.

One whole-platform stack (tests/lab_stacks/rolling.py): a keepalived setting that reloads both
gateway nodes, one after the other; a database setting that restarts both servers (replica
first); node4 joining as a build node and worker (the lab grows to four nodes for it).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from lab.labctl import node_address
from tests.lab_stacks.harness import lab_config, lab_nodes, set_section
from tests.lab_stacks.release import copy_release, edit
from tests.lab_stacks.rolling import Rolled, rolled, serving_platform


def _figures(change: Rolled, seconds: float) -> dict[str, Any]:
    return {
        "seconds": seconds,
        "created": len(change.created),
        "reports": {
            name: {"calls": len(r.outcomes), "failures": r.failures, "outage": r.longest_outage}
            for name, r in change.probes.reports.items()
        },
    }


def _timed(change: Any) -> tuple[Rolled, float]:
    started = time.monotonic()
    result = change()
    return result, time.monotonic() - started


def measure() -> dict[str, Any]:
    lab_nodes(4)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            release = copy_release(Path(scratch) / "release")
            with serving_platform("bench-day2", Path(scratch), release) as platform:
                figures: dict[str, Any] = {}
                gateway = lab_config()["rainbond-ha:gateway"]
                set_section(platform.stack, "gateway", {**gateway, "checkPorts": [80, 443, 8443]})
                figures["gateway"] = _figures(*_timed(lambda: rolled(platform)))
                edit(
                    release,
                    "components/database/files.py",
                    '"skip-name-resolve",',
                    '"skip-name-resolve",\n        "max-connections = 301",',
                )
                figures["database"] = _figures(*_timed(lambda: rolled(platform)))
                figures["database"]["lost"] = 0  # rolled() fails on any lost row
                nodes = list(lab_config()["rainbond-ha:nodes"])
                node4 = {
                    "name": "node4",
                    "address": node_address("node4"),
                    "roles": ["worker", "build"],
                }
                set_section(platform.stack, "nodes", [*nodes, node4])
                figures["join"] = _figures(*_timed(lambda: rolled(platform, "node4")))
                set_section(platform.stack, "nodes", nodes)
                rolled(platform, "node4")
                return figures
    finally:
        lab_nodes(3)


def section(figures: dict[str, Any]) -> str:
    def outage(part: str, probe: str) -> str:
        report = figures[part]["reports"][probe]
        return f"{report['failures']} of {report['calls']} failed, longest {report['outage']:.2f} s"

    return "\n".join(
        [
            "## Changes rolling through a serving platform",
            "",
            "Probes from the host during each `pulumi up`: an HTTP request to the VIP and an"
            " INSERT on the database source every 100 ms, a registry manifest fetch every 500 ms"
            " (tests/lab_stacks/rolling.py). Reference: one keepalived failover (see above).",
            "",
            "| change | up | gateway VIP | database inserts | registry |",
            "|---|---|---|---|---|",
            *(
                f"| {label} | {figures[part]['seconds']:.1f} s | {outage(part, 'gateway VIP')}"
                f" | {outage(part, 'database inserts')} | {outage(part, 'registry manifest')} |"
                for part, label in (
                    ("gateway", "gateway.checkPorts (both keepalived reloaded, one at a time)"),
                    ("database", "a server option (both servers restarted, replica first)"),
                    ("join", f"node4 joins ({figures['join']['created']} resources created)"),
                )
            ),
            "",
            "Every change is measured only when it also kept every acknowledged row on both"
            " database nodes, the data directories and the registry's images (a lost row stops"
            " the benchmark).",
        ]
    )
