"""A package install killed in the middle of dpkg, then the step again, then its delete.

keepalived's step on node1 is cut off while dpkg installs its packages (apt-get and dpkg get
SIGKILL, as when the node loses power), which leaves dpkg interrupted. Running the step again
must finish dpkg's work by itself and succeed; its delete must then remove every package the
interrupted install brought. Two cuts: while dpkg unpacks a package (left half installed, which
dpkg refuses to configure: apt must unpack it again) and while it configures one (left half
configured: `dpkg --configure -a` finishes it). About 30 s each.
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

# On the node: catch apt-get's dpkg in the phase asked for, frozen (SIGSTOP) at a moment when its
# newest journal entry puts a package in the state asked for, then kill it and apt-get. Freezing
# first makes the state the kill leaves the one seen, whatever the machine's load.
KILL_DPKG = """
for _ in $(seq 1 6000); do
    dpkg=$(pgrep -f '^(/usr/bin/)?dpkg .*--{phase}' || true)
    if [ -n "$dpkg" ]; then
        kill -STOP $dpkg
        newest=$(ls /var/lib/dpkg/updates | grep -E '^[0-9]+$' | sort | tail -n 1)
        if [ -n "$newest" ] && grep -Eq '^Status: .* ({state})$' "/var/lib/dpkg/updates/$newest"
        then
            kill -KILL $(pgrep -x apt-get || true) $dpkg
            grep -E '^(Package|Status):' "/var/lib/dpkg/updates/$newest" | tr '\n' ' '
            exit 0
        fi
        kill -CONT $dpkg
    fi
    sleep 0.01
done
echo "never caught dpkg --{phase} with a package {state}" >&2
exit 1
"""
INTERRUPTED = "compgen -G '/var/lib/dpkg/updates/[0-9]*' >/dev/null || [ -n \"$(dpkg --audit)\" ]"
# phase of dpkg, state of the package it is cut off in, what the step's recovery then says
CUTS = {
    "unpacking": ("unpack", "half-installed", "(apt-get install --fix-broken)"),
    "configuring": ("configure", "half-configured", "(dpkg --configure -a)"),
}


def installed(packages: list[str]) -> list[str]:
    listing = on(NODE, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' " + " ".join(packages))
    return [line.split()[1] for line in listing.stdout.splitlines() if line.startswith("ii")]


@pytest.mark.parametrize("cut", CUTS)
def test_a_step_killed_inside_dpkg_recovers_and_its_delete_removes_what_it_began(
    cut: str, tmp_path: Path
) -> None:
    phase, state, recovery = CUTS[cut]
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
            killer = on(NODE, KILL_DPKG.format(phase=phase, state=state), timeout=120)
            assert killer.returncode == 0, killer.stderr
            print("killed at", killer.stdout)
            assert cut_off.wait(timeout=120) != 0, first.read_text()
        assert on(NODE, INTERRUPTED).returncode == 0, (
            "the kill left dpkg consistent; nothing to test"
        )

        again = step(GATEWAY)
        print(*(line for line in again.stdout.splitlines() if "packages:" in line), sep="\n")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "packages: finished an interrupted install" in again.stdout, again.stdout
        assert recovery in again.stdout, again.stdout
        assert on(NODE, INTERRUPTED).returncode != 0
        assert installed(["keepalived"]) == ["keepalived"]
    finally:
        began = text(f"cat {LEDGER}/keepalived 2>/dev/null || true").split()
        removed = step(GATEWAY, "vip-delete")
        assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "keepalived" in began
    assert installed(began) == [], removed.stdout
