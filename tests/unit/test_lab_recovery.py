"""With LAB_REMAKE_AFTER_FAILURE=1 the lab is made anew once, after the last test of a lab module
that failed, and never after a module that passed or one outside the lab tiers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.lab_recovery import LabRecovery

FIRST = "tests/lab_stacks/test_gateway.py::test_up"
SECOND = "tests/lab_stacks/test_gateway.py::test_failover"
NEXT_MODULE = "tests/lab_stacks/test_registry.py::test_push"


def recovery(problem: str = "") -> tuple[LabRecovery, list[str], list[str]]:
    remakes: list[str] = []
    said: list[str] = []

    def remake() -> str:
        remakes.append("remade")
        return problem

    return LabRecovery(remake, said.append), remakes, said


def report(nodeid: str, failed: bool, when: str = "call") -> Any:
    return SimpleNamespace(nodeid=nodeid, failed=failed, when=when)


def test_a_failed_module_is_followed_by_one_remake_after_its_last_test() -> None:
    plugin, remakes, said = recovery()
    plugin.pytest_runtest_logreport(report(FIRST, failed=True))
    plugin.finished(FIRST, SECOND)
    assert remakes == []
    plugin.pytest_runtest_logreport(report(SECOND, failed=False))
    plugin.finished(SECOND, NEXT_MODULE)
    assert remakes == ["remade"]
    assert said == [
        "lab: tests/lab_stacks/test_gateway.py failed;"
        " the lab made anew (lab down, lab up) for the next"
    ]
    plugin.pytest_runtest_logreport(report(NEXT_MODULE, failed=False))
    plugin.finished(NEXT_MODULE, None)
    assert remakes == ["remade"]


def test_a_failed_teardown_of_the_last_module_counts() -> None:
    plugin, remakes, said = recovery("lab up failed: no bridge")
    plugin.pytest_runtest_logreport(report(NEXT_MODULE, failed=True, when="teardown"))
    plugin.finished(NEXT_MODULE, None)
    assert remakes == ["remade"]
    assert said == [
        "lab: tests/lab_stacks/test_registry.py failed,"
        " and making the lab anew failed too: lab up failed: no bridge"
    ]


def test_passing_modules_and_other_tiers_leave_the_lab_alone() -> None:
    plugin, remakes, _ = recovery()
    plugin.pytest_runtest_logreport(report(FIRST, failed=False))
    plugin.finished(FIRST, NEXT_MODULE)
    unit = "tests/unit/test_config.py::test_x"
    plugin.pytest_runtest_logreport(report(unit, failed=True))
    plugin.finished(unit, None)
    assert remakes == []


def test_the_hook_sees_the_next_test_after_all_three_phases() -> None:
    plugin, remakes, _ = recovery()
    plugin.pytest_runtest_logreport(report(SECOND, failed=True))
    item: Any = SimpleNamespace(nodeid=SECOND)
    following: Any = SimpleNamespace(nodeid=NEXT_MODULE)
    protocol = plugin.pytest_runtest_protocol(item, following)
    next(protocol)
    assert remakes == []
    with pytest.raises(StopIteration) as done:
        protocol.send(True)
    assert done.value.value is True
    assert remakes == ["remade"]
