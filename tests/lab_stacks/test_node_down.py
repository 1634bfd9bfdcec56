"""A node powered off while `pulumi up` works on it: a bounded failure naming it, then recovery.

node2 (a gateway and the database replica) is powered off while MariaDB is being installed on it.
`pulumi up` fails within a bounded time and the failing steps are node2's; once node2 is back, a
plain `pulumi up` converges (no step by hand on the node) and a further `up` changes nothing.
About 2.5 minutes.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.labctl import boot_node, halt_node
from tests.lab_stacks.faults import UpProcess, on, platform_stack, pulumi

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

DOWN = "node2"
INTERRUPTED_STEP = f"database-server-{DOWN}"
FAIL_WITHIN_SECONDS = 120


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[auto.Stack]:
    with platform_stack("nodedown", tmp_path / "stack", DOWN) as stack:
        yield stack


def diagnostics(output: str) -> dict[str, str]:
    """Resource name -> first error line, for the errors the summary of `pulumi up` reports."""
    lines = output.split("Diagnostics:", 1)[-1].splitlines()
    failed = {}
    for header, body in itertools.pairwise(lines):
        if header.startswith("  ") and not header.startswith("   ") and "error:" in body:
            # "  command:remote:Command (database-server-node2):"
            failed[header.strip().rstrip(":")] = body.strip()
    return failed


def test_node_powered_off_during_up_fails_naming_it_then_converges(
    platform: auto.Stack, tmp_path: Path
) -> None:
    up = UpProcess(platform, tmp_path)
    try:
        up.wait_until(f"{INTERRUPTED_STEP} running", lambda r: INTERRUPTED_STEP in r)
        halt_node(DOWN)
        halted = time.monotonic()
        code = up.wait(timeout=FAIL_WITHIN_SECONDS + 60)
        took = time.monotonic() - halted
    finally:
        up.kill()
    output = up.text()
    assert code != 0, output
    assert took < FAIL_WITHIN_SECONDS, (took, output)
    failed = {k: v for k, v in diagnostics(output).items() if "pulumi:pulumi:Stack" not in k}
    print(f"failed {took:.0f} s after {DOWN} went down: {failed}")
    assert failed, output
    assert all(name.endswith(f"-{DOWN})") for name in failed), (failed, output)

    boot_node(DOWN)
    converge = pulumi(platform, "up", "--yes", "--skip-preview")
    assert converge.returncode == 0, converge.stdout + converge.stderr
    again = platform.up()
    changes = {k: v for k, v in (again.summary.resource_changes or {}).items() if k != "same"}
    assert changes == {}, again.stdout
    status = on(DOWN, "mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status, status
