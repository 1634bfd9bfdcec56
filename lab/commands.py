"""The lab's commands: up, down, status, and one node off and on again."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .access import ensure_ssh_key, lab_up_reason, require_lab_up, ssh_argv, write_known_hosts
from .base import (
    BRIDGE,
    KNOWN_HOSTS,
    LOCK_FILE,
    LOG_FILE,
    NETNS_PREFIX,
    NODES_DIR,
    OWNER_FILE,
    PROXY_PORT,
    SSH_CONFIG,
    STATE_DIR,
    WORK,
    LabError,
    is_node_name,
    locked,
    log,
    node_dir,
    node_names,
    require_root,
    run,
    step,
)
from .host import ensure_host_tools, host_mirrors
from .image import ensure_image
from .kube import control_plane as kube
from .network import ensure_bridge, ensure_node_network, existing_netns, host_veth, lab_links
from .nodes import (
    NSPAWN_RUN,
    ensure_node_root,
    mounts_under,
    node_pid,
    remove_node,
    start_node,
    stop_node,
    umount_under,
    wait_ssh,
)
from .procs import cmdline, lab_processes, stop_pid
from .proxy import ensure_proxy, proxy_pid, proxy_pidfile
from .subnet import HOST_ADDR, PREFIX_LEN, VIP, node_address, node_index, node_name

DEFAULT_NODES = 3
MAX_NODES = 20


def _known_nodes() -> list[str]:
    """Nodes with a disk, a pid file or a namespace: whatever `lab up` may have left."""
    names = set(node_names())
    names |= {p.name.removesuffix(".pid") for p in NODES_DIR.glob("node*.pid")}
    names |= {ns.removeprefix(NETNS_PREFIX) for ns in existing_netns()}
    return sorted((n for n in names if is_node_name(n)), key=node_index)


def cmd_up(nodes: int, bake: Sequence[str], kubernetes: str = "full") -> None:
    """`kubernetes`: "full" (built and started), "host" (started, the kubeadm artifacts perhaps
    not built yet) or "later" (left as it is)."""
    require_root()
    if kubernetes not in ("full", "host", "later"):
        raise LabError(f"$LAB_KUBERNETES must be full, host or later, got {kubernetes!r}")
    if not 1 <= nodes <= MAX_NODES:
        raise LabError(f"--nodes must be 1..{MAX_NODES}, got {nodes}")
    names = [node_name(i) for i in range(1, nodes + 1)]
    with locked(LOCK_FILE):
        step(f"lab up: {nodes} nodes ({', '.join(names)}), log in {LOG_FILE}")
        claim_machine()
        ensure_host_tools()
        mirror, security = host_mirrors()
        step(f"mirror: {mirror} (security: {security})")
        image = ensure_image(mirror, security, bake)
        warn_if_disk_low(WORK)
        ensure_ssh_key()
        for name in [n for n in _known_nodes() if n not in names]:
            step(f"{name}: removing (not in --nodes {nodes})")
            remove_node(name)
        step(f"network: bridge {BRIDGE} {HOST_ADDR}/{PREFIX_LEN}")
        ensure_bridge()
        ensure_proxy(mirror, security)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            made = list(pool.map(lambda n: ensure_node_root(n, image, names), names))
        created = [n for n, m in zip(names, made, strict=True) if m]
        if created:
            step(f"nodes: created root filesystems for {', '.join(created)}")
        write_known_hosts(names)
        starting = []
        for name in names:
            ensure_node_network(name)
            if not node_pid(name):
                start_node(name)
                starting.append(name)
        step(f"nodes: booting {', '.join(starting)}" if starting else "nodes: already running")
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(wait_ssh, names))
        step("nodes: ssh answers on " + ", ".join(f"{n} ({node_address(n)})" for n in names))
        if kubernetes != "later":
            nodes_addresses = {n: node_address(n) for n in names}
            kube.up(WORK, HOST_ADDR, nodes_addresses, step, host_only=kubernetes == "host")
        else:
            step("kubernetes: left as it is (--without-kubernetes); a later lab up starts it")
        step(f"lab is up. Try: lab/ssh node1 hostname   (VIP reserved for the gateway: {VIP})")


# Kubelet's default eviction: a node whose image filesystem has under 15 % free gets the
# DiskPressure taint, and its images are collected. The nodes' disks are the host's.
KUBELET_IMAGEFS_MIN_FREE = 0.15


def warn_if_disk_low(path: Path) -> None:
    disk = os.statvfs(path)
    free = disk.f_bavail / disk.f_blocks
    if free < KUBELET_IMAGEFS_MIN_FREE + 0.05:
        step(
            f"warning: the disk holding {path} has {free:.0%} free; below "
            f"{KUBELET_IMAGEFS_MIN_FREE:.0%} the nodes' kubelets taint them DiskPressure "
            "and remove images, and kubeadm clusters on the lab stop scheduling pods"
        )


def halt_node(name: str) -> None:
    """Power one node off cleanly, keeping its disk and network, as an outage of that server."""
    require_root()
    _require_node(name)
    with locked(LOCK_FILE):
        stop_node(name)
        # A server that is off answers nothing; without this its namespace would refuse connections.
        run(["ip", "link", "set", host_veth(name), "down"], check=False)
        step(f"{name}: stopped")


def boot_node(name: str, timeout: float = 120) -> None:
    """Start one stopped node as `lab up` would (same disk, host key and address); wait for ssh."""
    require_root()
    _require_node(name)
    require_lab_up()
    with locked(LOCK_FILE):
        image = Path((node_dir(name) / "image").read_text().strip())
        ensure_node_root(name, image, node_names())
        ensure_node_network(name)
        if not node_pid(name):
            start_node(name)
        wait_ssh(name, timeout)
        step(f"{name}: ssh answers on {node_address(name)}")


def _require_node(name: str) -> None:
    if name not in node_names():
        raise LabError(f"no lab node {name!r}; nodes: {', '.join(node_names()) or 'none'}")


def clear_machine_state(work: Path | str) -> None:
    """Remove the lab's namespaces, links and bridge, and the mounts under `work`."""
    for ns in existing_netns():
        run(["ip", "netns", "delete", ns], check=False)
    for dev in lab_links():
        if dev == BRIDGE:
            step(f"network: removing bridge {BRIDGE}")
        run(["ip", "link", "del", dev], check=False)
    umount_under(Path(work))
    for p in (NSPAWN_RUN / "propagate").glob("node*"):
        if not mounts_under(p):
            shutil.rmtree(p, ignore_errors=True)


def claim_machine() -> None:
    """Make this checkout the lab's owner; clear what a checkout that stopped running left."""
    try:
        owner = OWNER_FILE.read_text().strip()
    except FileNotFoundError:
        owner = ""
    if owner and owner != str(WORK):
        if lab_processes(owner):
            raise LabError(
                f"the lab of another checkout is running ({owner}); "
                f"run its lab/lab down first (lab names and addresses are machine-wide)"
            )
        step(f"clearing what a stopped lab left behind ({owner})")
        clear_machine_state(owner)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(f"{WORK}\n")


def cmd_down() -> None:
    require_root()
    with locked(LOCK_FILE):
        step("lab down")
        claim_machine()
        kube.down(WORK, step)
        ordered = _known_nodes()
        if ordered:
            step(f"nodes: stopping {', '.join(ordered)}")
            with ThreadPoolExecutor(max_workers=len(ordered)) as pool:
                list(pool.map(stop_node, ordered))
        pid = proxy_pid()
        if pid:
            step("apt proxy: stopping")
            stop_pid(pid, "apt-cacher-ng", timeout=10)
        for pid in lab_processes():  # strays, e.g. after a lost pidfile
            log(f"killing stray lab process {pid}: {' '.join(cmdline(pid))}")
            stop_pid(pid, "stray lab process", timeout=5)
        with contextlib.suppress(FileNotFoundError):
            proxy_pidfile().unlink()
        if ordered:
            with ThreadPoolExecutor(max_workers=len(ordered)) as pool:
                list(pool.map(remove_node, ordered))
        clear_machine_state(WORK)
        for p in (KNOWN_HOSTS, SSH_CONFIG, OWNER_FILE):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        with contextlib.suppress(OSError):
            STATE_DIR.rmdir()
        left = leftovers()
        if left:
            raise LabError("lab down left these behind:\n  " + "\n  ".join(left))
        step("lab is down (image cache and lab key kept)")


def leftovers() -> list[str]:
    """Everything lab-made that still exists; empty after a clean `lab down`."""
    left = [f"netns {ns}" for ns in existing_netns()]
    left += [f"link {dev}" for dev in lab_links()]
    if STATE_DIR.exists():
        left.append(f"directory {STATE_DIR}")
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4]
            if mp.startswith(str(WORK)) or mp.startswith(f"/run/netns/{NETNS_PREFIX}"):
                left.append(f"mount {mp}")
    for p in sorted((NSPAWN_RUN / "propagate").glob("node*")):
        left.append(f"directory {p}")
    for pid in lab_processes():
        left.append(f"process {pid} {' '.join(cmdline(pid))[:120]}")
    return left + kube.leftovers(WORK)


def _node_health(name: str) -> str:
    """ ", ssh ok, systemd running" and, on the node that holds it, the gateway VIP."""
    # `is-system-running` exits 1 when degraded: its answer, not its status, is what counts.
    probe = "systemctl is-system-running; ip -o -4 addr show dev host0"
    p = subprocess.run(
        ssh_argv(name, probe, connect_timeout=2), capture_output=True, text=True, check=False
    )
    lines = p.stdout.splitlines()
    if not lines:
        return ", ssh: no answer"
    holds = any(f" {VIP}/" in line for line in lines[1:])
    return f", ssh ok, systemd {lines[0].strip() or '?'}" + (
        f", holds the VIP {VIP}" if holds else ""
    )


def cmd_status() -> int:
    reason = lab_up_reason()
    print(f"bridge {BRIDGE}: " + (reason or f"up, {HOST_ADDR}"))
    pid = proxy_pid()
    running = f"running (pid {pid}) on {HOST_ADDR}:{PROXY_PORT}" if pid else "not running"
    print(f"apt proxy: {running}")
    print(kube.status(WORK))
    names = node_names()
    if not names:
        print("nodes: none")
    for name in names:
        pid = node_pid(name)
        state = f"running (pid {pid})" if pid else "stopped"
        health = _node_health(name) if pid and not reason else ""
        print(f"{name}: {node_address(name)} {state}{health}")
    return 0 if not reason and names and all(node_pid(n) for n in names) else 1
