"""The nodes' only way to the Debian archive: apt-cacher-ng on the host's lab address."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from .base import PROXY_DIR, PROXY_PORT, LabError, step, which
from .image import cache_root
from .procs import cmdline, live_pid, stop_pid
from .subnet import HOST_ADDR


def proxy_pidfile() -> Path:
    return PROXY_DIR / "apt-cacher-ng.pid"


def proxy_pid() -> int | None:
    return live_pid(proxy_pidfile(), "apt-cacher-ng")


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
            "# written by lab/lab up: the lab nodes' only way to the Debian archive\n"
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
        stop_pid(pid, "apt-cacher-ng", timeout=10)
    others = _listeners(PROXY_PORT)
    if others:
        who = ", ".join(f"{cmdline(p)[0] or '?'} (pid {p}) on {a}" for a, p in others.items())
        raise LabError(
            f"port {PROXY_PORT} is taken by {who}; the lab runs its own apt-cacher-ng on "
            f"{HOST_ADDR}:{PROXY_PORT}. Stop that one (e.g. systemctl stop apt-cacher-ng)."
        )
    step(f"apt proxy: starting apt-cacher-ng on {HOST_ADDR}:{PROXY_PORT} -> {mirror}")
    with open(logs / "stdout.log", "a") as out:
        p = subprocess.Popen(
            [which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng", "-c", str(conf), "ForeGround=1"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
        )
    proxy_pidfile().write_text(f"{p.pid}\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if p.poll() is not None:
            break
        if p.pid in _listeners(PROXY_PORT).values():
            return
        time.sleep(0.2)
    stop_pid(p.pid, "apt-cacher-ng", timeout=5)
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
