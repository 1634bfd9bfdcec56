"""Two owners sharing dependencies on a real node, removed in each order (packages.sh).

libsnmp40 (keepalived's way to them) and perl both need libperl5.36, perl-modules-5.36 and
libgdbm6: whichever owner installs first records them. Removing either owner first must leave the
other's packages working, and removing the second must leave the node's packages as they were.
About 1 minute.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from components.shared.remote import PACKAGE_HELPERS
from lab.labctl import require_lab_up, ssh_argv
from tests.lab_scripts.keepalived import LEDGER

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODE = "node3"
OWNERS = {"ledgertest-snmp": "libsnmp40", "ledgertest-perl": "perl"}
SHARED = ["libperl5.36", "perl-modules-5.36", "libgdbm6"]
HELPERS = "".join(path.read_text() for path in PACKAGE_HELPERS)


def on_node(call: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ssh_argv(NODE, f"set -euo pipefail\n{HELPERS}{call}"),
        capture_output=True,
        text=True,
        timeout=300,
    )


def installed() -> set[str]:
    listing = on_node("dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'")
    assert listing.returncode == 0, listing.stderr
    return {line.split()[1] for line in listing.stdout.splitlines() if line.startswith("ii")}


@pytest.mark.parametrize("first", list(OWNERS), ids=lambda owner: f"{owner}-first")
def test_shared_dependencies_go_with_the_last_owner(first: str) -> None:
    require_lab_up()
    before = installed()
    assert not set(OWNERS.values()) & before, f"{NODE} already has {OWNERS.values()}"
    last = next(owner for owner in OWNERS if owner != first)
    try:
        for owner, package in OWNERS.items():
            result = on_node(f"packages_install {owner} {package}")
            assert result.returncode == 0, result.stdout + result.stderr
        assert set(SHARED) <= installed()
        result = on_node(f"packages_remove {first}")
        print(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        now = installed()
        assert OWNERS[first] not in now
        assert {OWNERS[last], *SHARED} <= now, result.stdout
        assert on_node('[ -z "$(dpkg --audit)" ]').returncode == 0
    finally:
        for owner in OWNERS:
            result = on_node(f"packages_remove {owner}")
            assert result.returncode == 0, result.stdout + result.stderr
    assert installed() == before
    assert on_node(f"test ! -e {LEDGER}").returncode == 0
