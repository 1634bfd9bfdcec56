"""The node image: Debian debootstrapped once into a cache keyed by what goes into it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from .base import PROXY_PORT, LabError, locked, run, step, write
from .subnet import HOST_ADDR

NODE_FILES = Path(__file__).resolve().parent / "node"

# Bump when the image recipe changes: it is part of the image cache key, as are the files in node/.
SCRIPT_VERSION = "1"

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


# The nodes' Debian release: bookworm, or trixie (LAB_SUITE=trixie) for the OS matrix's second row.
NODE_SUITES = ("bookworm", "trixie")


def node_suite() -> str:
    suite = os.environ.get("LAB_SUITE") or NODE_SUITES[0]
    if suite not in NODE_SUITES:
        raise LabError(f"LAB_SUITE must be one of {', '.join(NODE_SUITES)}, got {suite!r}")
    return suite


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
            "files": {f.name: f.read_text() for f in sorted(NODE_FILES.iterdir())},
            "suite": node_suite(),
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
        suite = node_suite()
        step(f"image: building Debian {suite} with debootstrap (first run only, about a minute)")
        tmp = image_dir / "rootfs.tmp"
        if image_dir.exists():
            shutil.rmtree(image_dir)
        image_dir.mkdir(parents=True)
        run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(base)}", suite, tmp, mirror],
            timeout=1800,
        )
        write(
            tmp / "etc/apt/sources.list",
            f"deb {mirror} {suite} main\n"
            f"deb {mirror} {suite}-updates main\n"
            f"deb {security} {suite}-security main\n",
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
    write(rootfs / "etc/machine-id", "")
    with contextlib.suppress(FileNotFoundError):
        (rootfs / "var/lib/dbus/machine-id").unlink()
    write(rootfs / "etc/hostname", "localhost\n")
    # Nodes reach the Debian archive only through the lab's apt proxy; they have no DNS.
    write(
        rootfs / "etc/apt/apt.conf.d/01rbdlab-proxy",
        f'Acquire::http::Proxy "http://{HOST_ADDR}:{PROXY_PORT}";\n',
    )
    write(rootfs / "etc/apt/apt.conf.d/02rbdlab-norecommends", 'APT::Install-Recommends "false";\n')
    resolv = rootfs / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    write(resolv, "# lab node: no DNS server; lab names are in /etc/hosts\n")
    write(
        rootfs / "etc/ssh/sshd_config.d/rbdlab.conf",
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UseDNS no\n",
    )
    prep = "rbdlab-node-prep"
    write(rootfs / "usr/local/sbin" / prep, (NODE_FILES / prep).read_text(), 0o755)
    units = rootfs / "etc/systemd/system"
    write(units / f"{prep}.service", (NODE_FILES / f"{prep}.service").read_text())
    wanted = units / "sysinit.target.wants" / f"{prep}.service"
    wanted.parent.mkdir(parents=True, exist_ok=True)
    wanted.symlink_to(f"/etc/systemd/system/{prep}.service")
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
