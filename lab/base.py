"""What every part of the lab shares: paths, errors, progress lines, running commands, the lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .subnet import node_index

LAB_DIR = Path(__file__).resolve().parent
# The lab's command line; tests run it as a newcomer would.
COMMAND = LAB_DIR / "lab"
WORK = LAB_DIR / ".work"
NODES_DIR = WORK / "nodes"
SSH_KEY = WORK / "ssh" / "id_ed25519"
KNOWN_HOSTS = WORK / "known_hosts"
SSH_CONFIG = WORK / "ssh_config"
LOG_FILE = WORK / "lab.log"
PROXY_DIR = WORK / "apt-proxy"
# Machine-wide: bridge and namespace names are global, so one checkout's lab at a time.
STATE_DIR = Path("/run/rbdlab")
OWNER_FILE = STATE_DIR / "owner"
LOCK_FILE = Path("/run/lock/rbdlab.lock")

BRIDGE = "rbdlab0"
NETNS_PREFIX = "rbdlab-"
PROXY_PORT = 3142


class LabNotUp(RuntimeError):
    """Raised by require_lab_up() when the lab's host interface does not exist."""


class LabError(RuntimeError):
    """A step failed; the message says which and what to do."""


def node_dir(name: str) -> Path:
    return NODES_DIR / name


def node_root(name: str) -> Path:
    """The node's root filesystem: an overlay on the cached image (or a copy of it)."""
    return node_dir(name) / "root"


def is_node_name(name: str) -> bool:
    return re.fullmatch(r"node[1-9][0-9]*", name) is not None


def node_names() -> list[str]:
    """Nodes that exist now (created by `lab up`), in order."""
    if not NODES_DIR.is_dir():
        return []
    names = [p.name for p in NODES_DIR.iterdir() if p.is_dir() and is_node_name(p.name)]
    return sorted(names, key=node_index)


# --------------------------------------------------------------------------- output and running

_T0 = time.monotonic()
_log_lock = threading.Lock()
QUIET = False


def log(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = "".join(f"{stamp} {line}\n" for line in text.rstrip("\n").splitlines() or [""])
    with _log_lock, contextlib.suppress(OSError):  # e.g. not root: the message still prints
        WORK.mkdir(parents=True, exist_ok=True)
        with open(LOG_FILE, "a", encoding="utf-8") as f:
            f.write(lines)


def step(msg: str) -> None:
    """A progress line for the user, with elapsed seconds; also logged."""
    line = f"[{time.monotonic() - _T0:6.1f}s] {msg}"
    if not QUIET:
        print(line, flush=True)
    log(line)


def run(
    argv: Sequence[str | Path],
    check: bool = True,
    input: str | None = None,
    timeout: float | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    """Run a command, log its argv and output to lab.log; raise LabError on failure when check."""
    log("$ " + " ".join(str(a) for a in argv))
    t0 = time.monotonic()
    p = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, input=input, timeout=timeout, **kw
    )
    if time.monotonic() - t0 > 1:
        log(f"  (took {time.monotonic() - t0:.1f} s)")
    if p.stdout.strip():
        log(p.stdout)
    if p.stderr.strip():
        log(p.stderr)
    if check and p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        raise LabError(
            f"command failed ({p.returncode}): {' '.join(map(str, argv))}\n  "
            + "\n  ".join(tail)
            + f"\n  full log: {LOG_FILE}"
        )
    return p


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            step(f"waiting for another lab command (lock {path.name})")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def which(cmd: str) -> str | None:
    return shutil.which(cmd, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (network namespaces, bridge, systemd-nspawn): run it with sudo"
        )
