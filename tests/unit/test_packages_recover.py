"""Package installs recover from an interrupted dpkg by themselves (packages-recover.sh).

Scripts change packages only through the package ledger (packages.sh), which calls
packages_recover first; a script that uses them declares it (`Scripts(..., packages=True)`) and
gets both first. The helper itself runs here against stand-in dpkg and apt-get commands.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from components.preflight.component import CHECK
from components.shared.remote import PACKAGE_HELPERS, Script
from tests.node_scripts import declared, script_files

HELPER, LEDGER = (path.read_text() for path in PACKAGE_HELPERS)
DECLARED = declared()
USES_PACKAGES = re.compile(r"^\s*[^#\n]*\bpackages_(install|remove|brought)\b", re.M)


def _apt_lines(text: str) -> list[int]:
    return [
        number
        for number, line in enumerate(text.splitlines())
        if re.search(r"(apt-get|APT\[@\]\}\"|apt_get)\s.*\b(install|purge|remove)\b", line)
        and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("path", script_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_packages_change_only_through_the_ledger(path: Path) -> None:
    # The ledger (packages.sh) recovers dpkg first and records what each install adds.
    if path not in {Path(p) for p in PACKAGE_HELPERS}:
        assert _apt_lines(path.read_text()) == []


@pytest.mark.parametrize("script", DECLARED, ids=lambda s: f"{s.folder.parent.name}/{s.name}")
def test_a_script_that_uses_the_ledger_declares_it(script: Script) -> None:
    own = "".join(p.read_text() for p in (script.folder / "common.sh", script.path) if p.exists())
    assert script.packages == bool(USES_PACKAGES.search(own)), script.path
    if script.packages:
        assert script.text.startswith(HELPER + LEDGER)


def test_every_node_script_is_declared_by_its_part() -> None:
    helpers = {Path(p) for p in PACKAGE_HELPERS}
    files = {p for p in script_files() if p.name != "common.sh" and p not in helpers}
    assert files == {script.path for script in DECLARED}


def test_scripts_that_never_touch_packages_stay_as_written() -> None:
    assert CHECK.text == CHECK.path.read_text()


# Stand-ins: `dpkg --audit` reports a broken package until a `dpkg --configure -a` succeeds (or,
# for a half-unpacked one, which dpkg refuses to configure, until apt-get installs it again); the
# configure fails with dpkg's lock message while `locked` counts down, and both fail for good
# with `fail`.
STANDINS = r"""
set -euo pipefail
compgen() { return 1; }  # no dpkg journal on this machine
sleep() { :; }
state=$1
dpkg() {
    case "$*" in
    --audit) [ -e "$state/done" ] || echo "mariadb-server-10.11  half-configured" ;;
    *--configure\ -a)
        echo "dpkg $*" >>"$state/calls"
        if [ -e "$state/fail" ]; then
            echo "dpkg: error processing package mariadb-server-10.11 (--configure)"
            return 1
        fi
        if (($(cat "$state/locked" 2>/dev/null || echo 0) > 0)); then
            echo $(($(cat "$state/locked") - 1)) >"$state/locked"
            echo "dpkg: error: dpkg frontend lock was locked by another process with pid 7"
            return 2
        fi
        if [ -e "$state/unpacked" ]; then
            echo "dpkg: error processing package pci.ids (--configure):"
            echo " package is in a very bad inconsistent state; you should"
            echo " reinstall it before attempting configuration"
            return 1
        fi
        touch "$state/done"
        ;;
    esac
}
apt-get() {
    echo "apt-get $*" >>"$state/calls"
    if [ -e "$state/fail" ]; then
        echo "dpkg: error processing package mariadb-server-10.11 (--configure)"
        echo "E: Sub-process /usr/bin/dpkg returned an error code (1)"
        return 100
    fi
    touch "$state/done"
}
"""


def _recover(
    tmp_path: Path,
    *,
    interrupted: bool = True,
    unpacked: bool = False,
    locked: int = 0,
    fail: bool = False,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    if not interrupted:
        (tmp_path / "done").touch()
    if unpacked:
        (tmp_path / "unpacked").touch()
    if locked:
        (tmp_path / "locked").write_text(str(locked))
    if fail:
        (tmp_path / "fail").touch()
    program = STANDINS + HELPER + "\npackages_recover\n"
    result = subprocess.run(
        ["bash", "-c", program, "recover", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    calls = tmp_path / "calls"
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_nothing_interrupted_runs_nothing(tmp_path: Path) -> None:
    result, calls = _recover(tmp_path, interrupted=False)
    assert result.returncode == 0 and result.stdout == "" and calls == []


def test_an_interrupted_install_is_finished(tmp_path: Path) -> None:
    result, calls = _recover(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dpkg --configure -a" in result.stdout
    assert len(calls) == 1 and calls[0].endswith("--configure -a")


def test_a_half_unpacked_package_is_installed_again(tmp_path: Path) -> None:
    result, calls = _recover(tmp_path, unpacked=True)
    assert result.returncode == 0, result.stderr
    assert [call.split()[0] for call in calls] == ["dpkg", "apt-get"]
    assert "--fix-broken" in calls[1]
    assert "packages: finished an interrupted install" in result.stdout


def test_waits_while_another_install_holds_the_lock(tmp_path: Path) -> None:
    result, calls = _recover(tmp_path, locked=3)
    assert result.returncode == 0, result.stderr
    assert len(calls) == 4


def test_a_failing_configure_fails_the_step_with_dpkg_s_words(tmp_path: Path) -> None:
    result, calls = _recover(tmp_path, fail=True)
    assert result.returncode == 1
    assert [call.split()[0] for call in calls] == ["dpkg", "apt-get"]
    assert "error processing package mariadb-server-10.11" in result.stderr
