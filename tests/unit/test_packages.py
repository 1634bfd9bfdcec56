"""The node's package ledger (packages.sh) against stand-in apt-get and dpkg-query.

The stand-ins keep a small dependency graph modelled on the lab's: keepalived (through
libsnmp40) and MariaDB share libperl5.36 and what it needs, libc6 is the image's. Whatever the
order owners install and go in, nothing any owner brought stays and nothing of the image goes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.shared.remote import PACKAGE_HELPERS

HELPERS = "".join(path.read_text() for path in PACKAGE_HELPERS)
GRAPH = {
    "libc6": [],
    "libgdbm6": ["libc6"],
    "perl-modules-5.36": [],
    "libperl5.36": ["perl-modules-5.36", "libgdbm6"],
    "libsnmp40": ["libperl5.36"],
    "keepalived": ["libsnmp40", "libc6"],
    "iputils-arping": ["libc6"],
    "perl": ["libperl5.36"],
    "mariadb-client": ["perl"],
    "mariadb-server": ["mariadb-client", "perl"],
    "snmp": ["libsnmp40"],
    "docker-registry": ["libc6"],
}
IMAGE = ["libc6"]
KEEPALIVED = ("keepalived", "keepalived iputils-arping")
MARIADB = ("database-mariadb-server", "mariadb-server")
SHARED = {"libperl5.36", "perl-modules-5.36", "libgdbm6"}

# apt-get and dpkg-query over state/installed (one name a line) and the graph above.
STANDIN = r"""
import json, os, sys
from pathlib import Path

state = Path(os.environ["STANDIN_STATE"])
graph = json.loads((state / "graph.json").read_text())
installed_file = state / "installed"
installed = set(installed_file.read_text().split())
tool, args = sys.argv[1], sys.argv[2:]
if tool == "dpkg-query":
    for name in sorted(installed):
        print(f"ii  {name}")
    sys.exit(0)
with (state / "calls").open("a") as calls:
    calls.write(" ".join(args) + "\n")
words, skip = [], False
for arg in args:
    if skip:
        skip = False
    elif arg == "-o":
        skip = True
    elif not arg.startswith("-"):
        words.append(arg)
command, names = words[0], words[1:]
print("Reading package lists... (apt chatter)")
if command == "update":
    sys.exit(0)
if command == "install":
    todo, added = list(names), []
    while todo:
        name = todo.pop()
        if name not in installed and name not in added:
            added.append(name)
            todo.extend(graph[name])
    if (state / "upgrade-libc6").exists():
        print("Inst libc6 [0.9] (1.0 Debian:12/stable [amd64])")
    for name in added:
        print(f"Inst {name} (1.0 Debian:12/stable [amd64])")
    if "-s" not in args:
        if (state / "fail-install").exists():
            print("E: Sub-process /usr/bin/dpkg returned an error code (1)", file=sys.stderr)
            sys.exit(100)
        installed |= set(added)
elif command == "purge":
    gone, changed = set(names) & installed, True
    while changed:
        more = {p for p in installed - gone if set(graph.get(p, [])) & gone}
        changed = bool(more)
        gone |= more
    for name in sorted(gone):
        print(f"Purg {name}")
    if "-s" not in args:
        installed -= gone
installed_file.write_text("\n".join(sorted(installed)) + "\n")
"""


class Node:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.ledger = root / "ledger"
        bin_dir = root / "bin"
        for directory in (self.state, bin_dir):
            directory.mkdir()
        (self.state / "graph.json").write_text(json.dumps(GRAPH))
        self.set_installed(IMAGE)
        (root / "standin.py").write_text(STANDIN)
        for tool in ("apt-get", "dpkg-query"):
            wrapper = bin_dir / tool
            wrapper.write_text(
                f'#!/bin/sh\nexec {sys.executable} {root / "standin.py"} {tool} "$@"\n'
            )
            wrapper.chmod(0o755)

    def set_installed(self, names: list[str]) -> None:
        (self.state / "installed").write_text("\n".join(names) + "\n")

    def installed(self) -> set[str]:
        return set((self.state / "installed").read_text().split())

    def run(self, call: str) -> subprocess.CompletedProcess[str]:
        # packages-recover.sh has its own tests; here it only notes when it runs.
        recover = f"packages_recover() {{ echo recover >>{self.state / 'calls'}; }}\n"
        program = f"set -euo pipefail\n{HELPERS}{recover}{call}\n"
        env = {
            "PATH": f"{self.root / 'bin'}:/usr/bin:/bin",
            "STANDIN_STATE": str(self.state),
            "PACKAGES_LEDGER": str(self.ledger),
            "PACKAGES_LOCK": str(self.root / "lock"),
        }
        return subprocess.run(
            ["bash", "-c", program], capture_output=True, text=True, timeout=60, env=env
        )

    def ok(self, call: str) -> str:
        result = self.run(call)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


@pytest.mark.parametrize("installs", [(KEEPALIVED, MARIADB), (MARIADB, KEEPALIVED)])
@pytest.mark.parametrize("removals", [(KEEPALIVED, MARIADB), (MARIADB, KEEPALIVED)])
def test_shared_packages_go_with_the_last_owner_whatever_the_order(
    node: Node,
    installs: tuple[tuple[str, str], ...],
    removals: tuple[tuple[str, str], ...],
) -> None:
    for owner, packages in installs:
        node.ok(f"packages_install {owner} {packages}")
    assert node.installed() >= SHARED
    first, last = removals
    out = node.ok(f"packages_remove {first[0]}")
    # The other owner's packages still work: what they need stayed.
    assert node.installed() >= SHARED, out
    assert set(last[1].split()) <= node.installed()
    node.ok(f"packages_remove {last[0]}")
    assert node.installed() == set(IMAGE)
    assert not node.ledger.exists()


def test_a_shared_package_kept_says_for_whom(node: Node) -> None:
    node.ok(f"packages_install {KEEPALIVED[0]} {KEEPALIVED[1]}")
    node.ok(f"packages_install {MARIADB[0]} {MARIADB[1]}")
    out = node.ok(f"packages_remove {KEEPALIVED[0]}")
    assert "packages: keeping libperl5.36 for database-mariadb-server:" in out
    assert "removing iputils-arping keepalived libsnmp40 (brought for keepalived)" in out
    assert "Reading package lists" not in out  # apt's output stays out of the log
    assert set((node.ledger / MARIADB[0]).read_text().split()) >= SHARED


def test_packages_of_the_image_are_never_removed(node: Node) -> None:
    node.set_installed([*IMAGE, "libgdbm6"])
    node.ok(f"packages_install {KEEPALIVED[0]} {KEEPALIVED[1]}")
    node.ok(f"packages_remove {KEEPALIVED[0]}")
    assert node.installed() == {*IMAGE, "libgdbm6"}


def test_an_owner_installing_what_is_there_records_nothing(node: Node) -> None:
    node.set_installed([*IMAGE, "docker-registry"])
    out = node.ok("packages_install registry docker-registry")
    assert out == "packages: docker-registry already installed\n"
    assert node.run("packages_brought registry docker-registry").returncode == 1
    node.ok("packages_remove registry")
    assert "docker-registry" in node.installed()


def test_what_only_outside_packages_need_is_kept_and_retried_later(node: Node) -> None:
    node.ok(f"packages_install {KEEPALIVED[0]} {KEEPALIVED[1]}")
    node.set_installed([*node.installed(), "snmp"])  # installed by hand since
    out = node.ok(f"packages_remove {KEEPALIVED[0]}")
    assert "packages: keeping libsnmp40: snmp need it (later removals retry)" in out
    assert "keepalived" not in node.installed() and "snmp" in node.installed()
    assert "libsnmp40" in (node.ledger / "kept").read_text().split()
    node.set_installed(sorted(node.installed() - {"snmp"}))  # removed by hand again
    node.ok("packages_install registry docker-registry")
    node.ok("packages_remove registry")
    assert node.installed() == set(IMAGE)
    assert not node.ledger.exists()


def test_the_record_is_written_before_apt_installs(node: Node) -> None:
    (node.state / "fail-install").touch()
    result = node.run(f"packages_install {KEEPALIVED[0]} {KEEPALIVED[1]}")
    assert result.returncode == 1
    assert "dpkg returned an error code" in result.stderr
    recorded = set((node.ledger / KEEPALIVED[0]).read_text().split())
    assert {"keepalived", "iputils-arping", "libsnmp40", *SHARED} == recorded


@pytest.mark.parametrize("owner", ["kept", "../etc", "Keepalived"])
def test_owner_names_are_checked(node: Node, owner: str) -> None:
    result = node.run(f"packages_install '{owner}' keepalived")
    assert result.returncode == 1 and "is not an owner name" in result.stderr
    assert not (node.state / "calls").exists()


def test_dpkg_is_recovered_before_apt_runs(node: Node) -> None:
    node.ok(f"packages_install {KEEPALIVED[0]} {KEEPALIVED[1]}")
    node.ok(f"packages_remove {KEEPALIVED[0]}")
    calls = (node.state / "calls").read_text().splitlines()
    # Each: recover, then apt (install: simulate, install; remove: simulate, purge).
    assert [call.split()[0] for call in calls] == ["recover", "-o", "-o", "recover", "-o", "-o"]


def test_an_upgrade_of_a_package_that_was_there_is_not_recorded(node: Node) -> None:
    (node.state / "upgrade-libc6").touch()
    node.ok(f"packages_install {KEEPALIVED[0]} {KEEPALIVED[1]}")
    assert "libc6" not in (node.ledger / KEEPALIVED[0]).read_text().split()
    node.ok(f"packages_remove {KEEPALIVED[0]}")
    assert node.installed() == set(IMAGE)
