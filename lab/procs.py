"""Processes the lab starts (nspawn, apt-cacher-ng): recognising, stopping and finding them."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from .base import WORK, log


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def live_pid(pidfile: Path, must_contain: str) -> int | None:
    """The pid in pidfile if that process is alive and is what we started (not a reused pid)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    if must_contain not in Path(exe).name and not any(must_contain in a for a in cmdline(pid)):
        return None
    with contextlib.suppress(OSError):
        if "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]:
            return None
    return pid


def stop_pid(pid: int, what: str, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    log(f"{what} (pid {pid}) did not stop in {timeout:.0f} s; killing it")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if not _alive(pid):
            return
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def lab_processes(work_dir: Path | str = WORK) -> list[int]:
    """Processes of a lab: those running in a node root, and its nspawn and apt-cacher-ng."""
    work = str(work_dir)
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        pid = int(d.name)
        try:
            root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            root = ""
        cmd = " ".join(cmdline(pid))
        ours = (work + "/") in cmd and ("systemd-nspawn" in cmd or "apt-cacher-ng" in cmd)
        if root.startswith(work + "/") or ours:
            pids.append(pid)
    return pids
