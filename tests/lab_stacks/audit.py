"""What the audits of a lab deployment read: node files, accounts and services, process samples.

A lab node's processes are host processes in the node's network namespace, and its root
filesystem is mounted on the host, so both are read from the host: nothing extra runs inside a
node, and the sampler sees every node's processes and the engine's at the same instants.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path

from lab.labctl import netns_name, node_dir, node_root, ssh_argv

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The files that `lab up` gives each node (identity, name resolution, SSH); the image has none.
LAB_IDENTITY = frozenset(
    {
        "/etc/machine-id",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_ed25519_key.pub",
    }
)
# The account databases are compared as the names they hold (`user:<name>`, `group:<name>`):
# their other fields (password ages) and their `-` backups change whenever any account does.
_ACCOUNTS = {"/etc/passwd": "user", "/etc/group": "group"}
_ACCOUNT_COPIES = frozenset(
    f"/etc/{name}{suffix}"
    for name in ("passwd", "group", "shadow", "gshadow")
    for suffix in ("", "-")
)


def image_root(node: str) -> Path:
    """The lab image the node was made from (read-only below the node's own changes)."""
    return Path((node_dir(node) / "image").read_text().strip())


def etc_items(root: Path) -> dict[str, str]:
    """Every entry under `root`/etc (type, mode, owner and content hash or link target), the
    accounts and the installed packages."""
    items: dict[str, str] = {}
    etc = root / "etc"
    for directory, dirs, files in os.walk(etc):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            key = "/" + str(path.relative_to(root))
            if key in _ACCOUNT_COPIES:
                continue
            items[key] = _describe(path)
    for database, kind in _ACCOUNTS.items():
        for line in (root / database.lstrip("/")).read_text().splitlines():
            items[f"{kind}:{line.split(':')[0]}"] = "present"
    return {**items, **_packages(root)}


def _packages(root: Path) -> dict[str, str]:
    """`package:<name>` for each installed package: a library left behind changes no /etc file."""
    found = {}
    for stanza in (root / "var/lib/dpkg/status").read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line[:40])
        if fields.get("Status", "").endswith(" installed"):
            found[f"package:{fields['Package']}"] = fields.get("Version", "")
    return found


def _describe(path: Path) -> str:
    info = path.lstat()
    owner = f"{stat.S_IMODE(info.st_mode):o} {info.st_uid}:{info.st_gid}"
    if stat.S_ISLNK(info.st_mode):
        return f"link -> {os.readlink(path)}"
    if stat.S_ISDIR(info.st_mode):
        return f"dir {owner}"
    if stat.S_ISREG(info.st_mode):
        return f"file {owner} {hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    return f"other {info.st_mode:o}"


def enabled_units(node: str) -> dict[str, str]:
    """`unit:<name>` for each unit file enabled on the node."""
    out = on(node, "systemctl list-unit-files --state=enabled --no-legend --plain")
    return {f"unit:{line.split()[0]}": "enabled" for line in out.splitlines() if line.strip()}


def node_items(node: str) -> dict[str, str]:
    return {**etc_items(node_root(node)), **enabled_units(node)}


def differences(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Each item that was added, removed or changed, with what happened to it."""
    found = {}
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is not None and new is not None and key.startswith("package:"):
            # Kept apart from added or removed packages: the docs allow upgrades, not leftovers.
            found[f"package-version:{key.removeprefix('package:')}"] = f"{old} -> {new}"
        else:
            found[key] = (
                f"added ({new})" if old is None else "removed" if new is None else "changed"
            )
    return found


def on(node: str, command: str, stdin: str = "") -> str:
    """`command`'s output on `node` (stdin given on its standard input); fails when it fails."""
    result = subprocess.run(
        ssh_argv(node, command), input=stdin.encode(), capture_output=True, timeout=120
    )
    # Logs may hold bytes that are not UTF-8; a secret in them is still found.
    out, err = (stream.decode(errors="replace") for stream in (result.stdout, result.stderr))
    if result.returncode != 0:
        raise AssertionError(f"{node}: {command!r} failed: {out}{err}")
    return out


# --- the host's temporary directories -----------------------------------------------------------

HOST_TEMP_DIRS = (Path("/tmp"), Path("/var/tmp"))


def host_temp_files(since: float, skip: Path) -> str:
    """What the files in the host's temporary directories changed since `since` hold, `skip` (the
    engine's private TMPDIR, removed when the run ends) aside: where anything run on the host
    leaves files by default, the kubernetes provider's kubeconfig copies once among them."""
    texts = []
    for top in HOST_TEMP_DIRS:
        device = top.stat().st_dev
        for directory, dirs, files in os.walk(top):
            here = Path(directory)
            dirs[:] = [d for d in dirs if _walkable(here / d, device, skip)]
            for name in files:
                with contextlib.suppress(OSError):  # gone meanwhile, or a socket
                    info = (here / name).lstat()
                    if (
                        stat.S_ISREG(info.st_mode)
                        and info.st_mtime >= since - 1
                        and info.st_size < 20 * 2**20
                    ):
                        texts.append((here / name).read_bytes().decode(errors="replace"))
    return "\n".join(texts)


def _walkable(path: Path, device: int, skip: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_dev == device and path != skip


# --- documented leftovers ------------------------------------------------------------------------

DOCS = PROJECT_ROOT / "docs" / "operations.md"
SECTION = "## What destroy leaves behind"
_ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def documented_leftovers() -> list[str]:
    """The item patterns of the table in docs/operations.md that says what destroy keeps."""
    text = DOCS.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return _ROW.findall(text[start : end if end != -1 else len(text)])


def undocumented(changes: dict[str, str]) -> dict[str, str]:
    """The changes that no row of that table allows."""
    kept = documented_leftovers()
    return {
        item: change
        for item, change in changes.items()
        if not any(fnmatchcase(item, pattern) for pattern in kept)
    }


# --- processes -----------------------------------------------------------------------------------


class ProcessSampler:
    """Samples argv and environment of every process every `interval` seconds.

    Keeps each distinct text once, labelled with the lab node it ran on, or `host` (the pulumi
    engine, its plugins and the program, and whatever they start).
    """

    def __init__(self, nodes: Iterable[str], interval: float = 0.1) -> None:
        self._netns = {os.stat(f"/run/netns/{netns_name(node)}").st_ino: node for node in nodes}
        self._interval = interval
        self.texts: set[tuple[str, str]] = set()
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.texts.update(self._sample())
            self.rounds += 1
            time.sleep(self._interval)

    def _sample(self) -> Iterator[tuple[str, str]]:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                where = self._netns.get(os.stat(f"/proc/{pid}/ns/net").st_ino, "host")
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:  # the process ended meanwhile
                continue
            yield where, argv.replace(b"\0", b" ").decode(errors="replace")
            yield where, environ.replace(b"\0", b"\n").decode(errors="replace")

    def of(self, where: str) -> list[str]:
        return [text for place, text in self.texts if place == where]
