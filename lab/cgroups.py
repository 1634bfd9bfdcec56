"""A cgroup of its own for each node, in every hierarchy the host mounts.

systemd-nspawn roots a node's view of its cgroups at the cgroup it starts in. Started in the
host's root cgroup, a kubelet in the node would create its pods' cgroups beside the host's; started
in rbdlab/<node>, everything the node creates stays below that, and goes with it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
LAB_GROUP = "rbdlab"


def _hierarchies() -> list[Path]:
    if not CGROUP_ROOT.is_dir():
        return []
    return sorted(p for p in CGROUP_ROOT.iterdir() if (p / "cgroup.procs").is_file())


def node_cgroups(name: str) -> list[Path]:
    return [h / LAB_GROUP / name for h in _hierarchies()]


def create(name: str) -> list[Path]:
    """The node's cgroups, created where missing; cpuset needs its cpus and mems before a task
    may join, and a new cpuset starts with none."""
    groups = node_cgroups(name)
    for group in groups:
        for d in (group.parent, group):
            d.mkdir(exist_ok=True)
            for knob in ("cpuset.cpus", "cpuset.mems"):
                target = d / knob
                if target.exists() and not target.read_text().strip():
                    target.write_text((d.parent / knob).read_text())
    return groups


def enter(groups: list[Path]) -> None:
    """Moves the calling process into `groups` (run in the child before it execs nspawn)."""
    pid = str(os.getpid())
    for group in groups:
        (group / "cgroup.procs").write_text(pid)


def remove(name: str) -> None:
    """Removes the node's cgroups, deepest first (the kubelet's pods nest several levels), once
    nothing runs in them; a cgroup still in use stays."""
    for group in node_cgroups(name):
        if not group.is_dir():
            continue
        for d in sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            group.rmdir()
        with contextlib.suppress(OSError):
            group.parent.rmdir()  # only when no other node is left in it
