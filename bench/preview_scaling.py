"""`pulumi preview` time for stacks of 3, 10, 30 and 100 nodes against an empty program.

Program evaluation only: the stacks use documentation addresses and run, like the offline tests,
in a network namespace with only loopback (`make bench` arranges it), so no node is contacted.
Each figure is the median of a few runs, as a ratio to its reference run on the same engine.

The engine serializes its whole in-memory snapshot after every step, even in a preview (where the
result is discarded), so its work grows with the square of the resources. Each size is also
measured with PULUMI_SKIP_CHECKPOINTS=true, which serializes it once at the end: for a preview
nothing is lost, as nothing is written.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.engine import copy_of_project, engine_env, pulumi_cli, write_project_file

SIZES = (3, 10, 30, 100)
RUNS = 3
SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}


def stack_config(nodes: int) -> dict[str, Any]:
    """A valid stack: 3 masters, 2 gateways, 2 database nodes, 1 registry, the rest build."""

    def roles(i: int) -> list[str]:
        return (
            (["master"] if i < 3 else ["worker"])
            + (["gateway"] if i < 2 else [])
            + (["mysql"] if i in (0, 1) else [])
            + (["registry"] if i == 2 else [])
            + (["build"] if i >= 3 or nodes == 3 else [])
        )

    return {
        "rainbond-ha:ssh": {"user": "root", "privateKeyFile": "bench-key"},
        "rainbond-ha:nodes": [
            {"name": f"rbd-{i + 1}", "address": f"192.0.2.{i + 11}", "roles": roles(i)}
            for i in range(nodes)
        ],
        "rainbond-ha:kubernetes": {"mode": "rke2", "apiAddress": "192.0.2.9/24"},
        "rainbond-ha:gateway": {
            "mode": "keepalived",
            "vip": "192.0.2.10/24",
            "interface": "eth0",
            "virtualRouterId": 51,
        },
        "rainbond-ha:registry": {"mode": "managed"},
        "rainbond-ha:database": {
            "mode": "managed",
            "engine": "mariadb",
            "source": "rbd-1",
            "replica": "rbd-2",
        },
    }


def timed_preview(
    project: Path, stack: str, state: Path, extra_env: dict[str, str] | None = None
) -> float:
    run = ["pulumi", "preview", "--stack", stack, "--non-interactive", "--cwd", str(project)]
    env = {**os.environ, **engine_env(state), **(extra_env or {})}
    started = time.monotonic()
    result = subprocess.run(run, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"preview of {stack} failed:\n{result.stdout[-3000:]}{result.stderr}")
    return elapsed


def init_stack(project: Path, stack: str, state: Path) -> None:
    pulumi_cli("stack", "init", stack, "--cwd", str(project), env=engine_env(state))


def median_preview(
    project: Path, stack: str, state: Path, extra_env: dict[str, str] | None = None
) -> float:
    return statistics.median(timed_preview(project, stack, state, extra_env) for _ in range(RUNS))


def measure() -> dict[str, float]:
    """Seconds per stack: `empty` and `nodes<N>`, and the same with a `-skip` suffix."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        state = root / "state"
        state.mkdir()
        project = copy_of_project(root / "project", [])
        (project / "bench-key").write_text("only its existence is checked at preview\n")
        empty = root / "empty"
        empty.mkdir()
        write_project_file(empty, "empty")
        (empty / "__main__.py").write_text("")
        init_stack(empty, "empty", state)
        figures = {
            "empty": median_preview(empty, "empty", state),
            "empty-skip": median_preview(empty, "empty", state, SKIP_CHECKPOINTS),
        }
        for size in SIZES:
            stack = f"nodes{size}"
            (project / f"Pulumi.{stack}.yaml").write_text(
                yaml.safe_dump({"config": stack_config(size)})
            )
            init_stack(project, stack, state)
            figures[stack] = median_preview(project, stack, state)
            figures[f"{stack}-skip"] = median_preview(project, stack, state, SKIP_CHECKPOINTS)
        return figures
