#!/usr/bin/env python3
"""The local lab: Debian 12 nodes as systemd-nspawn machines in network namespaces.

Commands (run as root; `lab/lab` is a thin wrapper around this file):

    lab/lab up [--nodes N] [--bake PKG,...]   create or repair the lab (idempotent)
    lab/lab down                              remove everything the lab created (idempotent)
    lab/lab status                            what exists and whether nodes answer
    lab/lab check                             exit 1 with "lab is not up" unless the bridge exists
    lab/lab stop-node NAME | start-node NAME  power one node off / start it again and wait for ssh

Importable by tests and tools (stdlib only):

    from lab.labctl import require_lab_up, node_names, node_address, ssh_argv

`require_lab_up()` must be called before anything contacts a lab address: without the bridge,
packets to 198.18.0.0/24 would follow the host's default route out of the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__:
    from .kube import control_plane as kube
else:  # run as lab/labctl.py, with lab/ first on sys.path
    from kube import control_plane as kube  # type: ignore[no-redef,import-not-found]

# Bump when the image recipe changes: it is part of the image cache key.
SCRIPT_VERSION = "1"

LAB_DIR = Path(__file__).resolve().parent
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
SUBNET = "198.18.0.0/24"
HOST_ADDR = "198.18.0.1"
PREFIX_LEN = 24
VIP = "198.18.0.10"  # reserved for the gateway pair; nodes start at .11
NODE_HOST_OFFSET = 10
NETNS_PREFIX = "rbdlab-"
PROXY_PORT = 3142
DEFAULT_NODES = 3
MAX_NODES = 20
SUITE = "bookworm"

BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "iproute2",
    "iputils-ping",
    "python3",
    "ca-certificates",
    "procps",
    "curl",
    "less",
    "netcat-openbsd",
    "sudo",
    "gnupg",
)

HOST_TOOLS = {  # command -> Debian package that provides it
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "apt-cacher-ng": "apt-cacher-ng",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


class LabNotUp(RuntimeError):
    """Raised by require_lab_up() when the lab's host interface does not exist."""


class LabError(RuntimeError):
    """A step failed; the message says which and what to do."""


# --------------------------------------------------------------------------- addressing


def node_name(index: int) -> str:
    return f"node{index}"


def node_index(name: str) -> int:
    m = re.fullmatch(r"node([1-9][0-9]*)", name)
    if not m:
        raise ValueError(f"not a lab node name: {name!r} (expected node1, node2, ...)")
    return int(m.group(1))


def node_address(name: str) -> str:
    """node1 -> 198.18.0.11, node2 -> 198.18.0.12, ..."""
    return f"198.18.0.{NODE_HOST_OFFSET + node_index(name)}"


def netns_name(name: str) -> str:
    return NETNS_PREFIX + name


def host_veth(name: str) -> str:
    return NETNS_PREFIX + name  # e.g. rbdlab-node1 (<= 15 chars up to node999)


def node_dir(name: str) -> Path:
    return NODES_DIR / name


def node_root(name: str) -> Path:
    """The node's root filesystem: an overlay on the cached image (or a copy of it)."""
    return node_dir(name) / "root"


def node_names() -> list[str]:
    """Nodes that exist now (created by `lab up`), in order."""
    if not NODES_DIR.is_dir():
        return []
    names = [
        p.name
        for p in NODES_DIR.iterdir()
        if p.is_dir() and re.fullmatch(r"node[1-9][0-9]*", p.name)
    ]
    return sorted(names, key=node_index)


# --------------------------------------------------------------------------- the guard


def _bridge_addresses() -> list[str]:
    try:
        out = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", BRIDGE], capture_output=True, text=True, check=False
        ).stdout
        data = json.loads(out or "[]")
    except (OSError, ValueError):
        return []
    addrs = []
    for link in data:
        if "UP" not in link.get("flags", []):
            continue
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                addrs.append(f"{a.get('local')}/{a.get('prefixlen')}")
    return addrs


def _route_dev(addr: str) -> str | None:
    """The device the kernel would use for addr (no packet is sent)."""
    try:
        out = subprocess.run(
            ["ip", "-j", "route", "get", addr], capture_output=True, text=True, check=False
        ).stdout
        data = json.loads(out or "[]")
    except (OSError, ValueError):
        return None
    return data[0].get("dev") if data else None


def lab_up_reason() -> str | None:
    """None when the lab's host interface is in place, else why not."""
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        return f"lab is not up: bridge {BRIDGE} does not exist (run: lab/lab up)"
    if f"{HOST_ADDR}/{PREFIX_LEN}" not in _bridge_addresses():
        return (
            f"lab is not up: bridge {BRIDGE} is down or lacks {HOST_ADDR}/{PREFIX_LEN} "
            "(run: lab/lab up)"
        )
    dev = _route_dev(node_address("node1"))
    if dev != BRIDGE:
        return f"lab is not up: {SUBNET} is routed via {dev!r}, not {BRIDGE} (run: lab/lab up)"
    return None


def require_lab_up() -> None:
    """Raise LabNotUp ("lab is not up: ...") unless 198.18.0.0/24 is routed to the lab bridge."""
    reason = lab_up_reason()
    if reason:
        raise LabNotUp(reason)


def ssh_argv(node: str, *command: str, connect_timeout: int = 5) -> list[str]:
    """ssh argv that runs `command` on `node` as root with the lab key and the pinned host key."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(SSH_KEY),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"UserKnownHostsFile={KNOWN_HOSTS}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        f"ConnectTimeout={connect_timeout}",
        "-o",
        "LogLevel=ERROR",
        f"root@{node_address(node)}",
        "--",
        *command,
    ]


# --------------------------------------------------------------------------- output and running

_T0 = time.monotonic()
_log_lock = threading.Lock()
QUIET = False


def _log(text: str) -> None:
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
    _log(line)


def run(
    argv: Sequence[str | Path],
    check: bool = True,
    input: str | None = None,
    timeout: float | None = None,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    """Run a command, log its argv and output to lab.log; raise LabError on failure when check."""
    _log("$ " + " ".join(str(a) for a in argv))
    t0 = time.monotonic()
    p = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, input=input, timeout=timeout, **kw
    )
    if time.monotonic() - t0 > 1:
        _log(f"  (took {time.monotonic() - t0:.1f} s)")
    if p.stdout.strip():
        _log(p.stdout)
    if p.stderr.strip():
        _log(p.stderr)
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


# --------------------------------------------------------------------------- host preparation


def ensure_host_tools() -> None:
    missing = sorted({pkg for cmd, pkg in HOST_TOOLS.items() if not _which(cmd)})
    if not missing:
        step("host packages: present")
        return
    step(f"host packages: installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env)
    # Do not let the package start a system-wide apt-cacher-ng on every address:
    # the lab runs its own, on the lab address only.
    policy = Path("/usr/sbin/policy-rc.d")
    added_policy = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        added_policy = True
    try:
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    finally:
        if added_policy:
            policy.unlink()


def _which(cmd: str) -> str | None:
    return shutil.which(cmd, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _apt_source_entries() -> list[tuple[str, list[str]]]:
    """(uri, suites) for every enabled `deb` entry in the host's apt sources."""
    entries: list[tuple[str, list[str]]] = []
    files = ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
    for path in files:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                line = re.sub(r"\[[^]]*\]", "", line)  # [signed-by=...] options
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb":
                    entries.append((parts[1], [parts[2]]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with contextlib.suppress(OSError):
            for stanza in re.split(r"\n\s*\n", Path(path).read_text()):
                fields: dict[str, str] = {}
                key = None
                for line in stanza.splitlines():
                    if line.startswith("#") or not line.strip():
                        continue
                    if line[0].isspace() and key:
                        fields[key] += " " + line.strip()
                        continue
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    entries.append((uri, fields.get("suites", "").split()))
    return entries


def host_mirrors() -> tuple[str, str]:
    """(mirror, security mirror): LAB_MIRROR/LAB_SECURITY_MIRROR or the host's apt sources."""
    entries = _apt_source_entries()
    mirror = os.environ.get("LAB_MIRROR")
    security = os.environ.get("LAB_SECURITY_MIRROR")
    if not mirror:
        mirror = next((u for u, suites in entries if SUITE in suites), None)
    if not mirror:
        raise LabError(
            f"no Debian {SUITE} mirror in the host's apt sources (/etc/apt/sources.list*); "
            "set LAB_MIRROR=http://your-mirror/debian"
        )
    if not security:
        security = next((u for u, suites in entries if f"{SUITE}-security" in suites), None)
    if not security:
        security = mirror.rstrip("/") + "-security"
    return mirror.rstrip("/"), security.rstrip("/")


# --------------------------------------------------------------------------- the image


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rainbond-ha" / "lab"


def image_packages(bake: Sequence[str]) -> tuple[list[str], list[str]]:
    return list(BASE_PACKAGES), sorted(set(bake))


def image_key(mirror: str, security: str, bake: Sequence[str]) -> str:
    base, extra = image_packages(bake)
    text = json.dumps(
        {
            "v": SCRIPT_VERSION,
            "suite": SUITE,
            "base": base,
            "extra": extra,
            "mirror": mirror,
            "security": security,
        }
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_image(mirror: str, security: str, bake: Sequence[str]) -> Path:
    key = image_key(mirror, security, bake)
    image_dir = cache_root() / key
    rootfs = image_dir / "rootfs"
    if (image_dir / "complete").exists():
        step(f"image: cached ({image_dir})")
        return rootfs
    with locked(cache_root() / f"{key}.lock"):
        if (image_dir / "complete").exists():
            return rootfs
        base, extra = image_packages(bake)
        step(f"image: building Debian {SUITE} with debootstrap (first run only, about a minute)")
        tmp = image_dir / "rootfs.tmp"
        if image_dir.exists():
            shutil.rmtree(image_dir)
        image_dir.mkdir(parents=True)
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(base)}", SUITE, tmp, mirror],
            timeout=1800,
        )
        _write(
            tmp / "etc/apt/sources.list",
            f"deb {mirror} {SUITE} main\n"
            f"deb {mirror} {SUITE}-updates main\n"
            f"deb {security} {SUITE}-security main\n",
        )
        if extra:
            step(f"image: baking extra packages: {' '.join(extra)}")
            _image_apt(tmp, ["update", "-q"])
            _image_apt(tmp, ["install", "-y", "-q", "--no-install-recommends", *extra])
        _customise_image(tmp)
        tmp.rename(rootfs)
        (image_dir / "packages.txt").write_text("\n".join(base + extra) + "\n")
        (image_dir / "complete").write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        step(f"image: built ({image_dir})")
    return rootfs


def _image_apt(rootfs: Path, args: list[str]) -> None:
    """apt-get inside the image being built (host network: the image is not a node yet)."""
    run(
        [
            "systemd-nspawn",
            "-q",
            "-D",
            rootfs,
            "--register=no",
            "--keep-unit",
            "--resolv-conf=copy-host",
            "--timezone=off",
            "--link-journal=no",
            "--setenv=DEBIAN_FRONTEND=noninteractive",
            "apt-get",
            *args,
        ],
        timeout=1800,
    )


def _customise_image(rootfs: Path) -> None:
    # Per-node identity is created per node copy, never shared from the image.
    for key in rootfs.glob("etc/ssh/ssh_host_*"):
        key.unlink()
    _write(rootfs / "etc/machine-id", "")
    with contextlib.suppress(FileNotFoundError):
        (rootfs / "var/lib/dbus/machine-id").unlink()
    _write(rootfs / "etc/hostname", "localhost\n")
    # Nodes reach the Debian archive only through the lab's apt proxy; they have no DNS.
    _write(
        rootfs / "etc/apt/apt.conf.d/01rbdlab-proxy",
        f'Acquire::http::Proxy "http://{HOST_ADDR}:{PROXY_PORT}";\n',
    )
    _write(
        rootfs / "etc/apt/apt.conf.d/02rbdlab-norecommends", 'APT::Install-Recommends "false";\n'
    )
    resolv = rootfs / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    _write(resolv, "# lab node: no DNS server; lab names are in /etc/hosts\n")
    _write(
        rootfs / "etc/ssh/sshd_config.d/rbdlab.conf",
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UseDNS no\n",
    )
    # Units that have nothing to do in a lab node (and would only slow its boot).
    wants = rootfs / "etc/systemd/system"
    for unit in (
        "systemd-networkd.service",
        "systemd-resolved.service",
        "systemd-timesyncd.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "e2scrub_all.timer",
        "fstrim.timer",
    ):
        link = wants / unit
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/dev/null")
    run(["chroot", rootfs, "apt-get", "clean"])


def _write(path: Path, text: str, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    if mode is not None:
        path.chmod(mode)


# --------------------------------------------------------------------------- keys


def ensure_ssh_key() -> None:
    if SSH_KEY.exists() and SSH_KEY.with_suffix(".pub").exists():
        return
    SSH_KEY.parent.mkdir(parents=True, exist_ok=True)
    SSH_KEY.parent.chmod(0o700)
    for p in (SSH_KEY, SSH_KEY.with_suffix(".pub")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rainbond-ha-lab", "-f", SSH_KEY])
    step(f"ssh: created lab key {SSH_KEY.relative_to(LAB_DIR.parent)}")


def write_known_hosts(names: Sequence[str]) -> None:
    lines = []
    for name in names:
        pub = (node_root(name) / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        lines.append(f"{name},{node_address(name)} {pub[0]} {pub[1]}\n")
    _write(KNOWN_HOSTS, "".join(lines))
    hosts = "".join(f"Host {n}\n  HostName {node_address(n)}\n" for n in names)
    _write(
        SSH_CONFIG,
        "# ssh -F lab/.work/ssh_config node1\n"
        + hosts
        + f"Host node* 198.18.0.*\n  User root\n  IdentityFile {SSH_KEY}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {KNOWN_HOSTS}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n",
    )


# --------------------------------------------------------------------------- network


def _link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", name]
    return subprocess.run(argv, capture_output=True).returncode == 0


def _sysctl(path: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", path).write_text(value)


def ensure_bridge() -> None:
    if not _link_exists(BRIDGE):
        run(["ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
    # Nothing from the lab is forwarded by the host, and the host offers no IPv6 on the lab.
    _sysctl(f"net/ipv6/conf/{BRIDGE}/disable_ipv6", "1")
    _sysctl(f"net/ipv4/conf/{BRIDGE}/forwarding", "0")
    if f"{HOST_ADDR}/{PREFIX_LEN}" not in _bridge_addresses():
        run(["ip", "addr", "replace", f"{HOST_ADDR}/{PREFIX_LEN}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    reason = lab_up_reason()
    if reason:
        raise LabError(f"bridge {BRIDGE} set up but the guard still fails: {reason}")


def ensure_node_network(name: str) -> None:
    ns, veth = netns_name(name), host_veth(name)
    if not Path(f"/run/netns/{ns}").exists():
        run(["ip", "netns", "add", ns])
    if not _link_exists("host0", ns):
        if _link_exists(veth):
            run(["ip", "link", "del", veth])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "host0", "netns", ns])
        # A new host0 has a new MAC: forget the old one, or the host waits for it to go stale.
        run(["ip", "neigh", "flush", "to", node_address(name), "dev", BRIDGE], check=False)
    _sysctl(f"net/ipv6/conf/{veth}/disable_ipv6", "1")
    _sysctl(f"net/ipv4/conf/{veth}/forwarding", "0")
    run(["ip", "link", "set", veth, "master", BRIDGE, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "addr", "replace", f"{node_address(name)}/{PREFIX_LEN}", "dev", "host0"])
    run(["ip", "-n", ns, "link", "set", "host0", "up"])


# --------------------------------------------------------------------------- apt proxy


def _proxy_pidfile() -> Path:
    return PROXY_DIR / "apt-cacher-ng.pid"


def proxy_pid() -> int | None:
    return _live_pid(_proxy_pidfile(), "apt-cacher-ng")


def ensure_proxy(mirror: str, security: str) -> None:
    conf = PROXY_DIR / "conf"
    cache = cache_root() / "apt-cache"
    logs = PROXY_DIR / "log"
    for d in (conf, cache, logs):
        d.mkdir(parents=True, exist_ok=True)
    mirror_hp = re.sub(r"^[a-z]+://", "", mirror)
    security_hp = re.sub(r"^[a-z]+://", "", security)
    want = {
        "backends_debian": mirror + "/\n",
        "acng.conf": (
            "# written by lab/labctl.py: the lab nodes' only way to the Debian archive\n"
            f"CacheDir: {cache}\n"
            f"LogDir: {logs}\n"
            "SupportDir: /usr/lib/apt-cacher-ng\n"
            f"BindAddress: {HOST_ADDR}\n"
            f"Port: {PROXY_PORT}\n"
            f"Remap-debrep: file:deb_mirror*.gz /debian {mirror_hp} ; file:backends_debian\n"
            f"Remap-secdeb: security.debian.org security.debian.org/debian-security "
            f"deb.debian.org/debian-security /debian-security {security_hp} ; {security}/\n"
            # Only the remapped Debian repositories: the proxy is not a way out of the lab.
            "ForceManaged: 1\n"
            "PassThroughPattern: ^bugs\\.debian\\.org:443$\n"
            "ExThreshold: 4\n"
        ),
    }
    changed = False
    for fname, text in want.items():
        path = conf / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed = True
    pid = proxy_pid()
    if pid and not changed and pid in _listeners(PROXY_PORT).values():
        step(f"apt proxy: running on {HOST_ADDR}:{PROXY_PORT} (pid {pid})")
        return
    if pid:
        _stop_pid(pid, "apt-cacher-ng", timeout=10)
    others = _listeners(PROXY_PORT)
    if others:
        who = ", ".join(f"{_cmdline(p)[0] or '?'} (pid {p}) on {a}" for a, p in others.items())
        raise LabError(
            f"port {PROXY_PORT} is taken by {who}; the lab runs its own apt-cacher-ng on "
            f"{HOST_ADDR}:{PROXY_PORT}. Stop that one (e.g. systemctl stop apt-cacher-ng)."
        )
    step(f"apt proxy: starting apt-cacher-ng on {HOST_ADDR}:{PROXY_PORT} -> {mirror}")
    with open(logs / "stdout.log", "a") as out:
        p = subprocess.Popen(
            [_which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng", "-c", str(conf), "ForeGround=1"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
        )
    _proxy_pidfile().write_text(f"{p.pid}\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if p.poll() is not None:
            break
        if p.pid in _listeners(PROXY_PORT).values():
            return
        time.sleep(0.2)
    _stop_pid(p.pid, "apt-cacher-ng", timeout=5)
    text = (logs / "stdout.log").read_text()[-500:]
    raise LabError(
        f"apt-cacher-ng did not listen on {HOST_ADDR}:{PROXY_PORT}; see {logs}. Output:\n{text}"
    )


def _listeners(port: int) -> dict[str, int]:
    """{local address: pid} of TCP listeners on port (any address), from `ss`."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    found = {}
    for line in out.splitlines():
        fields = line.split()
        m = re.search(r"pid=(\d+)", line)
        if len(fields) >= 4:
            found[fields[3]] = int(m.group(1)) if m else 0
    return found


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    require_lab_up()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _live_pid(pidfile: Path, must_contain: str) -> int | None:
    """The pid in pidfile if that process is alive and is what we started (not a reused pid)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    if must_contain not in Path(exe).name and not any(must_contain in a for a in _cmdline(pid)):
        return None
    with contextlib.suppress(OSError):
        if "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]:
            return None
    return pid


def _stop_pid(pid: int, what: str, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    _log(f"{what} (pid {pid}) did not stop in {timeout:.0f} s; killing it")
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


def _lab_processes(work_dir: Path | str = WORK) -> list[int]:
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
        cmd = " ".join(_cmdline(pid))
        ours = (work + "/") in cmd and ("systemd-nspawn" in cmd or "apt-cacher-ng" in cmd)
        if root.startswith(work + "/") or ours:
            pids.append(pid)
    return pids


# --------------------------------------------------------------------------- nodes


def _pidfile(name: str) -> Path:
    return NODES_DIR / f"{name}.pid"


def node_pid(name: str) -> int | None:
    return _live_pid(_pidfile(name), "systemd-nspawn")


def _mounts_under(path: Path) -> list[str]:
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
    if str(node_root(name)) in _mounts_under(node_root(name)):
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
    _write(root / "etc/machine-id", machine_id + "\n", 0o444)
    _write(root / "etc/hostname", name + "\n")
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
    _write(ssh_dir / "authorized_keys", SSH_KEY.with_suffix(".pub").read_text(), 0o600)
    write_hosts(name, all_names)
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
    argv = [
        _which("systemd-nspawn") or "systemd-nspawn",
        "-b",
        "-D",
        str(root),
        f"--network-namespace-path=/run/netns/{netns_name(name)}",
        "--register=no",
        "--keep-unit",
        f"--machine={name}",
        f"--uuid={machine_id}",
        "--capability=CAP_NET_ADMIN,CAP_NET_RAW,CAP_SYS_ADMIN",
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--console=read-only",
    ]
    _log("$ " + " ".join(argv))
    with open(NODES_DIR / f"{name}.console.log", "a") as out:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
        )
    _pidfile(name).write_text(f"{p.pid}\n")
    _started[name] = p


_started: dict[str, subprocess.Popen[bytes]] = {}


def _node_exited(name: str) -> bool:
    p = _started.get(name)
    if p is not None:  # started by this command: its exit status is authoritative
        if p.poll() is None and not node_pid(name):
            _log(f"{name}: pid {p.pid} runs but was not recognised: {_cmdline(p.pid)}")
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
        if _port_open(node_address(name), 22, timeout=1):
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
        _stop_pid(pid, f"{name} (systemd-nspawn)", timeout=30)
    root = str(node_root(name))
    for p in _lab_processes():  # anything left running from this node's root
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{p}/root").startswith(root):
                os.kill(p, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        _pidfile(name).unlink()


def remove_node_network(name: str) -> None:
    if Path(f"/run/netns/{netns_name(name)}").exists():
        run(["ip", "netns", "delete", netns_name(name)], check=False)
    if _link_exists(host_veth(name)):
        run(["ip", "link", "del", host_veth(name)], check=False)


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
    _umount_under(node_dir(name))
    if _mounts_under(node_dir(name)):  # never delete through a mounted root
        raise LabError(f"{name}: still mounted: {', '.join(_mounts_under(node_dir(name)))}")
    if node_dir(name).exists():
        shutil.rmtree(node_dir(name))
    for p in nspawn_state:
        if p.is_dir() and not _mounts_under(p):
            shutil.rmtree(p)
        elif p.is_file():
            p.unlink()
    for suffix in (".console.log", ".pid"):
        with contextlib.suppress(FileNotFoundError):
            (NODES_DIR / f"{name}{suffix}").unlink()


def _umount_under(path: Path) -> None:
    for mp in sorted(_mounts_under(path), key=len, reverse=True):
        if run(["umount", mp], check=False).returncode != 0:
            run(["umount", "-l", mp], check=False)


# --------------------------------------------------------------------------- commands


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (network namespaces, bridge, systemd-nspawn): run it with sudo"
        )


def _existing_netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(NETNS_PREFIX)]


def _known_nodes() -> list[str]:
    """Nodes with a disk, a pid file or a namespace: whatever `lab up` may have left."""
    names = set(node_names())
    names |= {p.name.removesuffix(".pid") for p in NODES_DIR.glob("node*.pid")}
    names |= {ns.removeprefix(NETNS_PREFIX) for ns in _existing_netns()}
    return sorted((n for n in names if re.fullmatch(r"node[1-9][0-9]*", n)), key=node_index)


def cmd_up(nodes: int, bake: Sequence[str]) -> None:
    _require_root()
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
        kube.up(WORK, HOST_ADDR, {n: node_address(n) for n in names}, step)
        step(f"lab is up. Try: lab/ssh node1 hostname   (VIP reserved for the gateway: {VIP})")


def halt_node(name: str) -> None:
    """Power one node off cleanly, keeping its disk and network, as an outage of that server."""
    _require_root()
    _require_node(name)
    with locked(LOCK_FILE):
        stop_node(name)
        # A server that is off answers nothing; without this its namespace would refuse connections.
        run(["ip", "link", "set", host_veth(name), "down"], check=False)
        step(f"{name}: stopped")


def boot_node(name: str, timeout: float = 120) -> None:
    """Start one stopped node as `lab up` would (same disk, host key and address); wait for ssh."""
    _require_root()
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
    for ns in _existing_netns():
        run(["ip", "netns", "delete", ns], check=False)
    for dev in _lab_links():
        if dev == BRIDGE:
            step(f"network: removing bridge {BRIDGE}")
        run(["ip", "link", "del", dev], check=False)
    _umount_under(Path(work))
    for p in (NSPAWN_RUN / "propagate").glob("node*"):
        if not _mounts_under(p):
            shutil.rmtree(p, ignore_errors=True)


def _lab_links() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    devs = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [d for d in devs if d.startswith(NETNS_PREFIX) or d == BRIDGE]


def claim_machine() -> None:
    """Make this checkout the lab's owner; clear what a checkout that stopped running left."""
    try:
        owner = OWNER_FILE.read_text().strip()
    except FileNotFoundError:
        owner = ""
    if owner and owner != str(WORK):
        if _lab_processes(owner):
            raise LabError(
                f"the lab of another checkout is running ({owner}); "
                f"run its lab/lab down first (lab names and addresses are machine-wide)"
            )
        step(f"clearing what a stopped lab left behind ({owner})")
        clear_machine_state(owner)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(f"{WORK}\n")


def cmd_down() -> None:
    _require_root()
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
            _stop_pid(pid, "apt-cacher-ng", timeout=10)
        for pid in _lab_processes():  # strays, e.g. after a lost pidfile
            _log(f"killing stray lab process {pid}: {' '.join(_cmdline(pid))}")
            _stop_pid(pid, "stray lab process", timeout=5)
        with contextlib.suppress(FileNotFoundError):
            _proxy_pidfile().unlink()
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
    left = [f"netns {ns}" for ns in _existing_netns()]
    left += [f"link {dev}" for dev in _lab_links()]
    if STATE_DIR.exists():
        left.append(f"directory {STATE_DIR}")
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4]
            if mp.startswith(str(WORK)) or mp.startswith(f"/run/netns/{NETNS_PREFIX}"):
                left.append(f"mount {mp}")
    for p in sorted((NSPAWN_RUN / "propagate").glob("node*")):
        left.append(f"directory {p}")
    for pid in _lab_processes():
        left.append(f"process {pid} {' '.join(_cmdline(pid))[:120]}")
    return left + kube.leftovers(WORK)


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
        ssh = ""
        if pid and not reason:
            p = subprocess.run(
                ssh_argv(name, "systemctl", "is-system-running", connect_timeout=2),
                capture_output=True,
                text=True,
            )
            ssh = (
                f", ssh ok, systemd {p.stdout.strip() or '?'}"
                if p.returncode in (0, 1) and p.stdout.strip()
                else ", ssh: no answer"
            )
        print(f"{name}: {node_address(name)} {state}{ssh}")
    return 0 if not reason and names and all(node_pid(n) for n in names) else 1


def main(argv: Sequence[str] | None = None) -> int:
    global QUIET
    ap = argparse.ArgumentParser(prog="lab", description="The rainbond-ha local lab (run as root).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create or repair the lab (idempotent)")
    up.add_argument(
        "--nodes",
        type=int,
        default=int(os.environ.get("LAB_NODES", DEFAULT_NODES)),
        help=f"number of nodes (default: $LAB_NODES or {DEFAULT_NODES})",
    )
    up.add_argument(
        "--bake",
        default=os.environ.get("LAB_BAKE_PACKAGES", ""),
        help="extra Debian packages to bake into the image, comma or space separated "
        "(default: $LAB_BAKE_PACKAGES; none, so deploy scripts install them)",
    )
    sub.add_parser("down", help="remove nodes, namespaces, bridge and proxy (idempotent)")
    sub.add_parser("status", help="show what exists")
    for command, what in (("stop-node", "power one node off"), ("start-node", "start it again")):
        sub.add_parser(command, help=what).add_argument("name", help="e.g. node3")
    chk = sub.add_parser("check", help='exit 1 with "lab is not up" unless the lab bridge exists')
    chk.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "check":
            reason = lab_up_reason()
            if reason:
                print(reason, file=sys.stderr)
                return 1
            if not args.quiet:
                print(f"lab is up: {BRIDGE} {HOST_ADDR}/{PREFIX_LEN}")
            return 0
        if args.cmd == "status":
            return cmd_status()
        if args.cmd == "up":
            cmd_up(args.nodes, [p for p in re.split(r"[,\s]+", args.bake) if p])
        elif args.cmd == "down":
            cmd_down()
        elif args.cmd == "stop-node":
            halt_node(args.name)
        elif args.cmd == "start-node":
            boot_node(args.name)
        return 0
    except (LabError, LabNotUp) as e:
        step(f"FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        step("interrupted; run `lab/lab up` again to repair or `lab/lab down` to clean up")
        return 130


if __name__ == "__main__":
    sys.exit(main())
