"""The local clock reading stays paired with its node's facts across updates (run with sh)."""

from __future__ import annotations

import subprocess
import time

import pytest

from components.preflight.checks import parse_facts
from components.preflight.clock import clock_commands
from tests.unit.conftest import fake_preflight_facts

FACTS = fake_preflight_facts("rbd-1")
NODE_EPOCH = parse_facts(FACTS).number("epoch")
OLD_READING = NODE_EPOCH + 2  # taken right after the facts


def run(script: str, stdout: str | None = None, stderr: str | None = None) -> tuple[int, str]:
    env = {"PATH": "/usr/bin:/bin"}
    if stdout is not None:
        env["PULUMI_COMMAND_STDOUT"] = stdout
    if stderr is not None:
        env["PULUMI_COMMAND_STDERR"] = stderr
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout), done.stderr.strip()


def test_the_first_reading_is_now_and_names_the_facts() -> None:
    create, _ = clock_commands(FACTS)
    reading, mark = run(create)
    assert abs(reading - time.time()) < 5
    assert mark.startswith("facts ") and len(mark) == len("facts ") + 64


def test_an_update_with_the_same_facts_keeps_its_reading() -> None:
    create, update = clock_commands(FACTS)
    _, mark = run(create)
    assert run(update, str(OLD_READING), mark) == (OLD_READING, mark)
    assert run(update, f"{OLD_READING}\n", f"{mark}\n") == (OLD_READING, mark)


def test_new_facts_take_a_new_reading() -> None:
    _, update = clock_commands(FACTS)
    _, earlier = run(clock_commands(FACTS + "\nextra\t1")[0])
    reading, mark = run(update, str(OLD_READING), earlier)
    assert abs(reading - time.time()) < 5 and mark != earlier


@pytest.mark.parametrize(
    ("previous", "kept"),
    [
        # Recorded without the digest (earlier releases), right after these very facts: kept.
        (OLD_READING, True),
        # Far from these facts' time: the facts are newer than the reading, so read again.
        (NODE_EPOCH - 86400, False),
    ],
)
def test_readings_of_earlier_releases(previous: int, kept: bool) -> None:
    _, update = clock_commands(FACTS)
    reading, _ = run(update, f"{previous}\n", "")
    assert (reading == previous) is kept
    if not kept:
        assert abs(reading - time.time()) < 5


def test_no_previous_reading_reads_now() -> None:
    _, update = clock_commands(FACTS)
    assert abs(run(update)[0] - time.time()) < 5
