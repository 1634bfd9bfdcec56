"""Every `pulumi preview` and `pulumi up` first compares each node's host key with its pin.

pulumi-command checks a pinned key only when it opens a connection, step by step: on a stack that
already runs, the steps that need no change never connect, and those that do fail one by one
while others on healthy nodes go ahead. This resource's check runs on every preview and up,
before any step, and stops the deployment on the first node that presents another key: nothing
changes on any node. An unreachable node passes here; its steps fail to connect anyway.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pulumi
from pulumi import dynamic

from config import SshSettings

from ..shared.dynamic import pickler_restored


class HostKeyCheck(dynamic.Resource, module="preflight", name="HostKeys"):
    """`logins`: node name -> (address, its SSH settings); nodes without a pin are not checked."""

    def __init__(
        self,
        name: str,
        logins: Mapping[str, tuple[str, SshSettings]],
        opts: pulumi.ResourceOptions,
    ) -> None:
        pins = [
            {"node": node, "address": address, "port": ssh.port, "key": ssh.host_key}
            for node, (address, ssh) in logins.items()
            if ssh.host_key is not None
        ]
        with pickler_restored():
            super().__init__(_provider(), name, {"pins": pins}, opts)


def _provider() -> dynamic.ResourceProvider:
    """The check's provider, pickled by value: standard library and SDK only (see drift.py)."""

    import base64
    import hashlib

    def fingerprint(key: str) -> str:
        """As ssh-keygen -l prints it."""
        digest = hashlib.sha256(base64.b64decode(key.split()[1])).digest()
        return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")

    class Provider(dynamic.ResourceProvider):
        SCAN_SECONDS = 5

        def scan(self, pin: dict[str, Any]) -> str | None:
            """The key the node presents of the pinned key's type; None when it does not answer."""
            kind = str(pin["key"]).split()[0]
            scan_type = "ecdsa" if kind.startswith("ecdsa-") else kind.removeprefix("ssh-")
            command = ["ssh-keyscan", "-T", str(self.SCAN_SECONDS), "-p", str(pin["port"])]
            try:
                result = subprocess.run(
                    [*command, "-t", scan_type, str(pin["address"])],
                    capture_output=True,
                    text=True,
                    timeout=self.SCAN_SECONDS * 3,
                )
            except (OSError, subprocess.TimeoutExpired):
                return None
            for line in result.stdout.splitlines():
                fields = line.split()
                if len(fields) == 3 and fields[1] == kind:
                    return f"{fields[1]} {fields[2]}"
            return None

        def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
            pins = list(news.get("pins") or [])
            with ThreadPoolExecutor(max_workers=max(1, min(16, len(pins)))) as pool:
                presented = list(pool.map(self.scan, pins))
            failures = [
                dynamic.CheckFailure(
                    "pins",
                    f"{pin['node']} ({pin['address']}:{pin['port']}) presents the host key"
                    f" {fingerprint(key)}, not the pinned {fingerprint(str(pin['key']))}: nothing"
                    " was changed on any node. If the server was reinstalled, pin its new key"
                    " (docs/operations.md, 'Servers reinstalled'); otherwise find out who"
                    " answers at that address.",
                )
                for pin, key in zip(pins, presented, strict=True)
                if key is not None and key != pin["key"]
            ]
            return dynamic.CheckResult(news, failures)

        def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
            return dynamic.CreateResult("host-keys", props)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
            return dynamic.DiffResult(changes=olds.get("pins") != news.get("pins"), replaces=[])

        def update(
            self, _id: str, _olds: dict[str, Any], news: dict[str, Any]
        ) -> dynamic.UpdateResult:
            return dynamic.UpdateResult(news)

    return Provider()
