"""The host the lab runs on: the packages the lab needs, the Debian mirror of its apt sources."""

from __future__ import annotations

import contextlib
import glob
import os
import re
from pathlib import Path

from .base import LabError, run, step, which

# The host's release, whose apt sources name the mirror; the same mirror serves the nodes' suite.
HOST_SUITE = "bookworm"

HOST_TOOLS = {  # command -> Debian package that provides it
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "apt-cacher-ng": "apt-cacher-ng",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def ensure_host_tools() -> None:
    missing = sorted({pkg for cmd, pkg in HOST_TOOLS.items() if not which(cmd)})
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
        mirror = next((u for u, suites in entries if HOST_SUITE in suites), None)
    if not mirror:
        raise LabError(
            f"no Debian {HOST_SUITE} mirror in the host's apt sources (/etc/apt/sources.list*); "
            "set LAB_MIRROR=http://your-mirror/debian"
        )
    if not security:
        security = next((u for u, suites in entries if f"{HOST_SUITE}-security" in suites), None)
    if not security:
        security = mirror.rstrip("/") + "-security"
    return mirror.rstrip("/"), security.rstrip("/")
