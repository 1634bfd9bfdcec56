"""The offline tier runs inside a network namespace that has only loopback (see the Makefile)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def only_loopback() -> bool:
    # /proc/net follows the process's network namespace (/sys/class/net would need a remount).
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    return {line.split(":", 1)[0].strip() for line in lines} == {"lo"}


@pytest.fixture(autouse=True, scope="session")
def _require_isolation() -> None:
    if not only_loopback():
        pytest.fail(
            "the offline tier must run in a network namespace with only loopback: make e2e-offline"
        )
    if shutil.which("pulumi") is None:
        pytest.fail("pulumi is not on PATH: make toolchain, then source toolchain/.env")
