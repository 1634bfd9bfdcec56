"""With LAB_REMAKE_AFTER_FAILURE=1, a lab test module that failed leaves the lab made anew.

A failed step can leave a node half-changed (a package held, a service stopped, a stack its
module could not destroy), and every later stack then trips on it: one cause, dozens of failures,
and a run that tells nothing about the modules after the first. `lab down` and `lab up` (about
15 s) give the next module the nodes as the image made them. It is off by default: whoever runs
one module by hand wants the failed node left as it is, to look at. `.ci/run` turns it on.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from lab.labctl import COMMAND

SWITCH = "LAB_REMAKE_AFTER_FAILURE"
LAB_TIERS = ("lab_scripts", "lab_stacks")


def remake_lab() -> str:
    """`lab down`, `lab up`; what went wrong, or "" (LAB_SUITE carries over to the new nodes)."""
    for command in ("down", "up"):
        done = subprocess.run([str(COMMAND), command], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            return f"lab {command} failed: " + " | ".join(tail)
    return ""


def module_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


class LabRecovery:
    """Notes the modules with a failure and remakes the lab once the last of their tests is done
    (its module fixtures, and so its stack's destroy, finished)."""

    def __init__(self, remake: Callable[[], str], say: Callable[[str], None]) -> None:
        self.remake = remake
        self.say = say
        self.failed: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(module_of(report.nodeid))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        result = yield
        self.finished(item.nodeid, nextitem.nodeid if nextitem is not None else None)
        return result

    def finished(self, test: str, next_test: str | None) -> None:
        module = module_of(test)
        if next_test is not None and module_of(next_test) == module:
            return
        if module not in self.failed or Path(module).parent.name not in LAB_TIERS:
            return
        problem = self.remake()
        if problem:
            self.say(f"lab: {module} failed, and making the lab anew failed too: {problem}")
        else:
            self.say(f"lab: {module} failed; the lab made anew (lab down, lab up) for the next")


def register(config: pytest.Config) -> None:
    if os.environ.get(SWITCH) != "1":
        return

    def say(line: str) -> None:
        # Looked up when used: the terminal reporter registers after the conftest's configure.
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"\n{line}")

    config.pluginmanager.register(LabRecovery(remake_lab, say), "lab-recovery")
