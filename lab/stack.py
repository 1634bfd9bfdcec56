"""The lab stack (Pulumi.lab.yaml) against the lab that is up.

`lab down` removes the nodes' disks and the lab's Kubernetes API with its data, so the next
`lab up` makes nodes with new host keys and an API with a new CA. A lab stack deployed before then
describes machines that no longer exist: its next `up` would try to update steps on nodes that
refuse its pinned host keys. Nothing of that deployment is left to destroy, so `sync` forgets it
(the state only, the stack file stays) and the next `pulumi up -s lab` deploys onto the new lab.

`clear` is for the lab tests, which need nodes as the image made them: it also destroys a lab
stack that is deployed on this lab. Both need `pulumi` on PATH, the backend the lab stack lives in
and its passphrase (the Makefile's `make lab` environment).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .base import KNOWN_HOSTS, LAB_DIR, LabError

STACK = "lab"
PROJECT_DIR = LAB_DIR.parent


@contextlib.contextmanager
def private_tmpdir() -> Iterator[str]:
    """A TMPDIR of our own, removed afterwards: the kubernetes provider writes every kubeconfig it
    is given (client key included) to a new file there and never removes it."""
    path = tempfile.mkdtemp(prefix="rbd-lab-stack-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _pulumi(*args: str, tmpdir: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("pulumi"):
        raise LabError("pulumi is not on PATH (run: make toolchain && source toolchain/.env)")
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=PROJECT_DIR,
        env={**os.environ, "TMPDIR": tmpdir},
        capture_output=True,
        text=True,
    )


def _checked(*args: str, tmpdir: str) -> str:
    p = _pulumi(*args, tmpdir=tmpdir)
    if p.returncode != 0:
        raise LabError(f"pulumi {' '.join(args)} failed:\n{(p.stderr or p.stdout).strip()}")
    return p.stdout


def resource_count(tmpdir: str) -> int | None:
    """The lab stack's resources, or None when the backend has no lab stack."""
    for entry in json.loads(_checked("stack", "ls", "--json", tmpdir=tmpdir) or "[]"):
        if entry.get("name", "").split("/")[-1] == STACK:
            return int(entry.get("resourceCount") or 0)
    return None


def stale_nodes(state: str, known_hosts: str) -> list[str]:
    """Lab nodes whose address the exported state uses but whose host key (as `known_hosts`,
    the lab's file, has it now) it lacks."""
    stale = []
    for line in known_hosts.splitlines():
        hosts, _, key = line.partition(" ")
        name, _, address = hosts.partition(",")
        # A node's connection may sit in a secret, whose plaintext is JSON inside a JSON string.
        used = re.search(rf"(?<![\d.]){re.escape(address)}(?![\d])", state)
        if used and key.split()[-1] not in state:
            stale.append(name)
    return stale


def _sync(tmpdir: str) -> int | None:
    count = resource_count(tmpdir)
    if not count:
        return count
    state = _checked("stack", "export", "--show-secrets", "--stack", STACK, tmpdir=tmpdir)
    stale = stale_nodes(state, KNOWN_HOSTS.read_text())
    if not stale:
        return count
    print(
        f"lab stack: deployed to an earlier lab ({', '.join(stale)} have new host keys since); "
        "nothing of it is left on the nodes: forgetting its state (pulumi stack rm --force "
        "--preserve-config), the next pulumi up -s lab deploys anew",
        flush=True,
    )
    _checked(
        "stack", "rm", "--force", "--yes", "--preserve-config", "--stack", STACK, tmpdir=tmpdir
    )
    return None


def sync() -> int:
    if not KNOWN_HOSTS.exists():
        raise LabError("the lab is not up (run: lab/lab up)")
    with private_tmpdir() as tmpdir:
        _sync(tmpdir)
    return 0


def _none_in_local_backend() -> bool:
    """True when the backend is a local folder without a lab stack: nothing to clear, so clearing
    needs no pulumi (make test clears before the toolchain is built)."""
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return False
    stacks = Path(url.removeprefix("file://")).expanduser() / ".pulumi" / "stacks"
    return not any(stacks.glob(f"**/{STACK}.json*"))


def clear() -> int:
    if not KNOWN_HOSTS.exists():
        raise LabError("the lab is not up (run: lab/lab up)")
    if _none_in_local_backend():
        return 0
    with private_tmpdir() as tmpdir:
        if _sync(tmpdir):
            print(
                "lab stack: deployed on the lab nodes; the lab tests need them clean: "
                "destroying it (make lab deploys it again)",
                flush=True,
            )
            _checked("destroy", "--yes", "--skip-preview", "--stack", STACK, tmpdir=tmpdir)
    return 0
