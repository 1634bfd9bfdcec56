"""The external database check: which server versions it accepts, and what it is given."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from components.database.component import EXTERNAL, EXTERNAL_SUPPORTED
from tests.unit.test_database import external_stack
from tests.unit.test_kubernetes import rendered_params

SCRIPT = EXTERNAL.path.read_text()


def supported(version: str) -> bool:
    """Runs the script's own supported_version() on what `SELECT VERSION()` would return."""
    function = re.search(r"^supported_version\(\) \{\n.*?^\}\n", SCRIPT, re.MULTILINE | re.DOTALL)
    assert function, "external.sh has no supported_version()"
    program = f'{function.group(0)}supported_version "$1"'
    result = subprocess.run(["bash", "-c", program, "check", version], timeout=10)
    return result.returncode == 0


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("5.7.44-log", True),
        ("5.7.40-0ubuntu0.18.04.1", True),
        ("8.0.36", True),
        ("8.0.36-0ubuntu0.22.04.1", True),
        ("10.5.23-MariaDB-0+deb11u1", True),
        ("10.11.6-MariaDB-0+deb12u1-log", True),
        ("11.4.2-MariaDB", True),
        ("5.6.51", False),
        ("8.4.0", False),
        ("9.1.0", False),
        ("5.5.68-MariaDB", False),
    ],
)
def test_supported_versions(version: str, accepted: bool) -> None:
    assert supported(version) is accepted


def test_the_refusal_names_the_version_found_and_the_ones_needed() -> None:
    assert "runs ${version}; Rainbond needs ${SUPPORTED}" in SCRIPT
    assert "SHOW COLLATION WHERE Charset = '${CHARSET}' AND Collation = '${COLLATION}'" in SCRIPT


def test_the_step_carries_what_the_check_needs(dev_config: dict[str, Any]) -> None:
    params = rendered_params(external_stack(dev_config).named("database-external"))
    assert (params["CHARSET"], params["COLLATION"]) == ("utf8mb4", "utf8mb4_unicode_ci")
    assert params["SUPPORTED"] == EXTERNAL_SUPPORTED
