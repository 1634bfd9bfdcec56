"""The last lines of a failed run: its failures grouped by cause, in the order they happened.

A CI log is read from its tail, and a lab run that fails early keeps failing: a node left broken
makes every later stack error the same way. The first cause printed is the one to look at
(and with LAB_REMAKE_AFTER_FAILURE=1 the lab is made anew after a failed module: lab_recovery.py).
"""

from __future__ import annotations

import re
from collections.abc import Generator

import pytest

from tests import lab_recovery

SHOWN = 8
WIDTH = 240
# Pulumi's diagnostics say more than the CommandError around them: the resource that failed, how
# its error starts and how it ends (a step's script prints its reason last).
DIAGNOSTIC = re.compile(r"^  (\S+ \([^)]+\)):\n((?:    .*(?:\n|$))+)", re.MULTILINE)
ENGINE_ERROR = re.compile(r"(?:^|\s)error: (.+)$", re.MULTILINE)

_causes: dict[str, list[str]] = {}


def pytest_configure(config: pytest.Config) -> None:
    lab_recovery.register(config)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        where = "" if report.when == "call" else f" ({report.when})"
        _causes.setdefault(_cause(report), []).append(report.nodeid + where)


def _cause(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else report.longreprtext
    for name, body in DIAGNOSTIC.findall(message):
        lines = _lines(body)
        if name.startswith("pulumi:pulumi:Stack") and lines == ["error: update failed"]:
            continue
        first = lines[0].removeprefix("error: ")
        last = f" ... {lines[-1]}" if len(lines) > 1 else ""
        return f"{name}: {first[:100]}{last}"[:WIDTH]
    engine = ENGINE_ERROR.search(message)
    if engine:
        return engine.group(1).strip()[:WIDTH]
    return " ".join(_lines(message)[:2])[:WIDTH]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None]:
    yield
    if not _causes:
        return
    terminalreporter.write_sep("=", "failures by cause, first first")
    for cause, tests in list(_causes.items())[:SHOWN]:
        more = f" and {len(tests) - 1} more" if len(tests) > 1 else ""
        terminalreporter.write_line(f"{tests[0]}{more}: {cause}")
    if len(_causes) > SHOWN:
        terminalreporter.write_line(f"... {len(_causes) - SHOWN} more causes above")
