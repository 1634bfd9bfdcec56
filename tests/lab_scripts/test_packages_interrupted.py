"""A package install killed in the middle of dpkg, then the step again, then its delete.

keepalived's step on node1 is cut off while dpkg installs its packages (apt-get and dpkg get
SIGKILL, as when the node loses power), which leaves dpkg interrupted. Running the step again
must finish dpkg's work by itself and succeed; its delete must then remove every package the
interrupted install brought. About 30 s.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from components.keepalived import files
from components.keepalived.vip import SCRIPT, node_params
from components.shared.remote import render
from lab.labctl import require_lab_up, ssh_argv
from tests.lab_scripts.keepalived import GATEWAY, LEDGER, NODE, PASSWORD, on, step, text

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

# On the node: wait for apt-get's dpkg to unpack or configure (not the short dpkg queries apt
# makes before), let it work for a moment, then kill both.
KILL_DPKG = """
for _ in $(seq 1 1200); do
    dpkg=$(pgrep -f '^(/usr/bin/)?dpkg .*--(unpack|configure)' || true)
    [ -n "$dpkg" ] && break
    sleep 0.05
done
[ -n "$dpkg" ] || { echo "dpkg never ran" >&2; exit 1; }
sleep 0.3
kill -KILL $(pgrep -x apt-get || true) $(pgrep -x dpkg || true)
echo "killed apt-get and dpkg"
"""
INTERRUPTED = "compgen -G '/var/lib/dpkg/updates/[0-9]*' >/dev/null || [ -n \"$(dpkg --audit)\" ]"


def installed(packages: list[str]) -> list[str]:
    listing = on(NODE, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' " + " ".join(packages))
    return [line.split()[1] for line in listing.stdout.splitlines() if line.startswith("ii")]


def test_a_step_killed_inside_dpkg_recovers_and_its_delete_removes_what_it_began(
    tmp_path: Path,
) -> None:
    require_lab_up()
    assert installed(["keepalived"]) == [], f"keepalived is already on {NODE}"
    assert on(NODE, f"test ! -e {files.MAIN_PATH}").returncode == 0, "keepalived is configured"
    vip = render(SCRIPT.text, node_params(GATEWAY))
    try:
        first = tmp_path / "first-run.log"
        with first.open("w") as log:
            cut_off = subprocess.Popen(
                ssh_argv(NODE, vip), stdin=subprocess.PIPE, stdout=log, stderr=log, text=True
            )
            assert cut_off.stdin is not None
            cut_off.stdin.write(PASSWORD + "\n")
            cut_off.stdin.close()
            killer = on(NODE, KILL_DPKG, timeout=120)
            assert killer.returncode == 0, killer.stderr
            assert cut_off.wait(timeout=120) != 0, first.read_text()
        assert on(NODE, INTERRUPTED).returncode == 0, (
            "the kill left dpkg consistent; nothing to test"
        )

        again = step(GATEWAY)
        print(*(line for line in again.stdout.splitlines() if "packages:" in line), sep="\n")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "packages: finished an interrupted install" in again.stdout, again.stdout
        assert on(NODE, INTERRUPTED).returncode != 0
        assert installed(["keepalived"]) == ["keepalived"]
    finally:
        began = text(f"cat {LEDGER}/keepalived 2>/dev/null || true").split()
        removed = step(GATEWAY, "vip-delete")
        assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "keepalived" in began
    assert installed(began) == [], removed.stdout
