"""Node scripts run under `set -o pipefail`, where `cmd | grep -q` fails when grep stops reading
before `cmd` has finished writing (SIGPIPE): seen with `apt-cache policy`, whose output grows with
the node's package lists. Scripts read whole outputs instead (`grep ... >/dev/null`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.node_scripts import script_files

SCRIPTS = script_files()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_early_exiting_grep_at_the_end_of_a_pipe(script: Path) -> None:
    code = [line for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
    offending = [line for line in code if re.search(r"\|\s*grep\s+-[a-zA-Z]*q", line)]
    assert not offending, offending
