"""The closing digest of a failed run names the step that failed and how its script ended."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.conftest import _cause

# What the automation API's CommandError says when a step fails (captured from pulumi 3.274).
FAILED_UP = """CommandError:
 code: 1
 stdout: Updating (t):
 +  command:local:Command failing-step-node3 **creating failed** error: exit status 100
Diagnostics:
  pulumi:pulumi:Stack (t-t):
    error: update failed

  command:local:Command (failing-step-node3):
    error: exit status 100: running "packages.sh":
    E: dpkg was interrupted

Resources:
    2 errored
"""


def report(message: str) -> Any:
    return SimpleNamespace(
        longrepr=SimpleNamespace(reprcrash=SimpleNamespace(message=message)), longreprtext=""
    )


def test_a_failed_step_is_named_with_its_last_line() -> None:
    assert _cause(report(FAILED_UP)) == (
        'command:local:Command (failing-step-node3): exit status 100: running "packages.sh": ...'
        " E: dpkg was interrupted"
    )


def test_an_engine_error_without_a_resource() -> None:
    message = "CommandError: \n code: 255\n stderr: error: preview failed: refused"
    assert _cause(report(message)) == "preview failed: refused"


def test_any_other_failure_by_its_first_lines() -> None:
    assert _cause(report("AssertionError: the VIP moved\nassert 'node1' == 'node2'\nmore")) == (
        "AssertionError: the VIP moved assert 'node1' == 'node2'"
    )
