"""Nodes: a root filesystem each on the cached image, booted by systemd-nspawn in a namespace."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from . import cgroups
from .access import port_open, require_lab_up, ssh_argv
from .base import NODES_DIR, SSH_KEY, LabError, log, node_dir, node_root, run, step, which, write
from .network import netns_name, remove_node_network
from .procs import cmdline, lab_processes, live_pid, stop_pid
from .subnet import HOST_ADDR, node_address


def _pidfile(name: str) -> Path:
    return NODES_DIR / f"{name}.pid"


def node_pid(name: str) -> int | None:
    return live_pid(_pidfile(name), "systemd-nspawn")


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix + "/"):
                found.append(mp)
    return found


def _mount_overlay(name: str, image: Path) -> bool:
    d = node_dir(name)
    for sub in ("upper", "work", "root"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    if str(node_root(name)) in mounts_under(node_root(name)):
        return True
    opts = f"lowerdir={image},upperdir={d / 'upper'},workdir={d / 'work'}"
    return (
        run(
            ["mount", "-t", "overlay", f"rbdlab-{name}", "-o", opts, node_root(name)], check=False
        ).returncode
        == 0
    )


def ensure_node_root(name: str, image: Path, all_names: Sequence[str]) -> bool:
    """Create the node's root filesystem from the image if missing; True when created.

    The root is an overlay (image read-only below, the node's changes in nodes/<name>/upper), so a
    node costs no copy; LAB_NODE_COPY=1, or a kernel without overlayfs, makes a full copy instead.
    """
    d, root = node_dir(name), node_root(name)
    if (d / "ready").exists():
        if (d / "image").read_text().strip() == str(image):
            if (d / "mode").read_text().strip() == "overlay" and not _mount_overlay(name, image):
                raise LabError(
                    f"{name}: cannot mount its overlay root again; run lab/lab down, then up"
                )
            write_hosts(name, all_names)
            return False
        step(f"{name}: rebuilding (made from another image)")
    if d.exists():
        remove_node(name)  # incomplete, or from another image
    d.mkdir(parents=True)
    mode = "copy"
    if os.environ.get("LAB_NODE_COPY") != "1" and _mount_overlay(name, image):
        mode = "overlay"
    else:
        root.mkdir(exist_ok=True)
        run(["cp", "-a", "--reflink=auto", f"{image}/.", root])
    machine_id = uuid.uuid4().hex
    write(root / "etc/machine-id", machine_id + "\n", 0o444)
    write(root / "etc/hostname", name + "\n")
    run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            f"root@{name}",
            "-f",
            root / "etc/ssh/ssh_host_ed25519_key",
        ]
    )
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write(ssh_dir / "authorized_keys", SSH_KEY.with_suffix(".pub").read_text(), 0o600)
    write_hosts(name, all_names)
    # A lookup must fail at once, as on a server whose name server knows nothing, and CoreDNS
    # will not start without a name server to forward to: the node asks itself, and nothing
    # listens on its port 53 (no ICMP rate limit on the loopback, so no waiting).
    write(
        root / "etc/resolv.conf",
        "# lab node: no name server; lab names are in /etc/hosts\n"
        f"nameserver {node_address(name)}\n",
    )
    (d / "image").write_text(f"{image}\n")
    (d / "mode").write_text(f"{mode}\n")
    (d / "ready").write_text("")
    return True


HOSTS_BEGIN = "# BEGIN rbdlab nodes (managed by lab/labctl.py)"
HOSTS_END = "# END rbdlab nodes"


def write_hosts(name: str, all_names: Sequence[str]) -> None:
    """Keep a managed block of lab names in the node's /etc/hosts; leave other lines alone."""
    path = node_root(name) / "etc/hosts"
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    if not text.strip():
        text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    text = re.sub(
        rf"\n?{re.escape(HOSTS_BEGIN)}.*?{re.escape(HOSTS_END)}\n?", "\n", text, flags=re.S
    )
    block = [HOSTS_BEGIN, f"127.0.1.1\t{name}"]
    block += [f"{node_address(n)}\t{n}" for n in all_names if n != name]
    block += [f"{HOST_ADDR}\tlabhost", HOSTS_END]
    new = text.rstrip("\n") + "\n" + "\n".join(block) + "\n"
    if new != text:
        path.write_text(new)


def start_node(name: str) -> None:
    root = node_root(name)
    machine_id = (root / "etc/machine-id").read_text().strip()
    # containerd's overlay snapshots cannot live on the node's overlay root: its image store is a
    # directory of the host's filesystem, as a data disk would be.
    containerd = node_dir(name) / "containerd"
    containerd.mkdir(exist_ok=True)
    argv = [
        which("systemd-nspawn") or "systemd-nspawn",
        "-b",
        "-D",
        str(root),
        f"--network-namespace-path=/run/netns/{netns_name(name)}",
        "--register=no",
        "--keep-unit",
        f"--machine={name}",
        f"--uuid={machine_id}",
        # What a container runtime in the node needs (docs/lab.md, "Real Kubernetes"): runc
        # joins a session keyring, the kubelet's OOM watcher reads the kernel log, and
        # privileged pods get every capability the host has.
        "--capability=all",
        "--system-call-filter=@keyring",
        "--bind-ro=/dev/kmsg",
        f"--bind={containerd}:/var/lib/containerd",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
    ]
    log("$ " + " ".join(argv))
    groups = cgroups.create(name)
    with open(NODES_DIR / f"{name}.console.log", "a") as out:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            preexec_fn=lambda: cgroups.enter(groups),
        )
    _pidfile(name).write_text(f"{p.pid}\n")
    _started[name] = p


_started: dict[str, subprocess.Popen[bytes]] = {}


def _node_exited(name: str) -> bool:
    p = _started.get(name)
    if p is not None:  # started by this command: its exit status is authoritative
        if p.poll() is None and not node_pid(name):
            log(f"{name}: pid {p.pid} runs but was not recognised: {cmdline(p.pid)}")
        return p.poll() is not None
    return not node_pid(name)


def wait_ssh(name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if _node_exited(name):
            log = NODES_DIR / f"{name}.console.log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise LabError(f"{name}: systemd-nspawn exited during boot; console log {log}:\n{tail}")
        require_lab_up()
        if port_open(node_address(name), 22, timeout=1):
            p = subprocess.run(
                ssh_argv(name, "true", connect_timeout=3), capture_output=True, text=True
            )
            if p.returncode == 0:
                return
            last = p.stderr.strip()
        time.sleep(0.5)
    raise LabError(
        f"{name}: no ssh within {timeout:.0f} s ({last or 'port 22 closed'}); "
        f"see {NODES_DIR / (name + '.console.log')}"
    )


def stop_node(name: str) -> None:
    pid = node_pid(name)
    if pid:
        # SIGTERM makes nspawn power the container off cleanly (SIGRTMIN+3 to its init).
        stop_pid(pid, f"{name} (systemd-nspawn)", timeout=30)
    root = str(node_root(name))
    for p in lab_processes():  # anything left running from this node's root
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{p}/root").startswith(root):
                os.kill(p, signal.SIGKILL)
    cgroups.remove(name)
    with contextlib.suppress(FileNotFoundError):
        _pidfile(name).unlink()


NSPAWN_RUN = Path("/run/systemd/nspawn")


def _nspawn_state(name: str) -> list[Path]:
    """What systemd-nspawn leaves in /run after the node stops (when /run is not a tmpfs)."""
    found = [NSPAWN_RUN / "propagate" / name]
    with contextlib.suppress(OSError):
        st = node_root(name).stat()
        found.append(NSPAWN_RUN / "locks" / f"inode-{st.st_dev}:{st.st_ino}")
    return [p for p in found if p.exists()]


def remove_node(name: str) -> None:
    stop_node(name)
    nspawn_state = _nspawn_state(name)
    remove_node_network(name)
    umount_under(node_dir(name))
    if mounts_under(node_dir(name)):  # never delete through a mounted root
        raise LabError(f"{name}: still mounted: {', '.join(mounts_under(node_dir(name)))}")
    if node_dir(name).exists():
        shutil.rmtree(node_dir(name))
    for p in nspawn_state:
        if p.is_dir() and not mounts_under(p):
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()
    for suffix in (".console.log", ".pid"):
        with contextlib.suppress(FileNotFoundError):
            (NODES_DIR / f"{name}{suffix}").unlink()


def umount_under(path: Path) -> None:
    for mp in sorted(mounts_under(path), key=len, reverse=True):
        if run(["umount", mp], check=False).returncode != 0:
            run(["umount", "-l", mp], check=False)
