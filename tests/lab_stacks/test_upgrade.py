"""A stack deployed with the previous release converges with this one, in place, while it serves.

The whole platform is deployed on the lab by the program as it was at PREVIOUS (taken from git),
then `pulumi up` runs this working tree's program on the same stack with the probes of
tests/lab_stacks/rolling.py running: the engine creates, replaces and deletes nothing, no
acknowledged row is lost, the data and images stay, and a second `up` changes nothing.
About 3 minutes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.engine import PROJECT_ROOT
from tests.lab_stacks.release import run_from
from tests.lab_stacks.rolling import ONE_FAILOVER_SECONDS, Platform, rolled, serving_platform

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

# The release stacks in the field were deployed with: the last one before steps updated in place.
PREVIOUS = "3f3bb74"


# Where PREVIOUS kept the program and the lab stacks' entry point (tests/e2e/lab then).
PREVIOUS_FILES = [
    "config",
    "components",
    "tests/__init__.py",
    "tests/e2e/__init__.py",
    "tests/e2e/lab/__init__.py",
    "tests/e2e/lab/program.py",
]


def previous_release(target: Path) -> Path:
    """The program's files as they were at PREVIOUS, with the entry point where it is now."""
    archive = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", PREVIOUS, *PREVIOUS_FILES],
        capture_output=True,
        check=True,
    ).stdout
    # tar, not tarfile: Debian 12's Python 3.11.2 has no extraction filters.
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    entry = target / "tests" / "lab_stacks"
    entry.mkdir()
    (entry / "__init__.py").write_text("")
    (entry / "program.py").write_text(
        "from tests.e2e.lab.program import main\n\n__all__ = ['main']\n"
    )
    return target


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    where = tmp_path_factory.mktemp("upgrade")
    with serving_platform("upgrade", where, previous_release(where / "previous")) as serving:
        yield serving


def test_this_release_updates_the_previous_ones_stack_in_place(platform: Platform) -> None:
    run_from(platform.stack, PROJECT_ROOT)
    # New in this release: the host-key check that gates every preview and up, the database
    # backups, the second rbd-monitor, and the registry's recorded placement.
    probes = rolled(
        platform,
        new={
            "preflight-host-keys",
            "database-backup",
            "rainbond-rbd-monitor",
            "registry-placement",
        },
    )
    assert probes.report("gateway VIP").longest_outage <= ONE_FAILOVER_SECONDS
    assert probes.report("registry manifest").failures == 0


def test_a_second_up_changes_nothing(platform: Platform) -> None:
    result = platform.stack.up(on_output=print)
    assert set(result.summary.resource_changes or {}) == {"same"}
