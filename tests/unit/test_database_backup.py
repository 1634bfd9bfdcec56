"""Database backups: the replica's step, and the backup program run here against stand-in
`mariadb-dump` and `mariadb` commands in a scratch directory (the lab test runs the real ones)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.database import backup
from components.shared.remote import program
from tests.unit.conftest import Deployment, deploy, edited, is_secret, unwrap
from tests.unit.edits import findings, put
from tests.unit.plan import change

PINNED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
COPY = {"host": "192.0.2.30", "path": "/srv/backups", "privateKey": "KEY-TEXT", "hostKey": PINNED}


def test_the_replica_takes_the_backups_and_the_step_follows_the_role(
    dev: Deployment, dev_config: dict[str, Any]
) -> None:
    step = dev.named("database-backup")
    assert unwrap(step.inputs["connection"])["host"] == "192.0.2.12"  # rbd-2, the replica
    assert dev.named("database-replica").urn in step.dependencies
    swapped = deploy(
        edited(dev_config, put("database.source", "rbd-2"), put("database.replica", "rbd-1"))
    )
    assert change(step, swapped.named("database-backup")) == "replace"


def test_the_copy_key_travels_on_stdin_only(dev_config: dict[str, Any]) -> None:
    step = deploy(edited(dev_config, put("database.backup", {"copyTo": COPY}))).named(
        "database-backup"
    )
    assert is_secret(step.inputs["stdin"]) and unwrap(step.inputs["stdin"]) == "KEY-TEXT\n"
    create = unwrap(step.inputs["create"])
    assert "KEY-TEXT" not in create
    assert "root@192.0.2.30:/srv/backups" in create and PINNED in create


def test_backups_can_be_turned_off(dev_config: dict[str, Any]) -> None:
    off = deploy(edited(dev_config, put("database.backup", {"enabled": False})))
    assert not [r for r in off.registrations.values() if r.name == "database-backup"]


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("schedule", "daily; rm -rf /", "database.backup.schedule: 'daily; rm -rf /' is not a"),
        ("directory", "backups", "database.backup.directory: 'backups' is not an absolute path"),
        ("keep", 0, "database.backup.keep: 0 is out of range; use a count of 1 or more"),
    ],
)
def test_bad_backup_settings_name_their_key(
    dev_config: dict[str, Any], key: str, value: Any, line: str
) -> None:
    found = findings(edited(dev_config, put("database.backup", {key: value})))
    assert any(f.startswith(line) for f in found), found


# Stand-ins: a dump whose head holds a GTID position and whose last line says it completed (or
# not, with DUMP_BROKEN), and the client answering the two statements the program sends.
STANDINS = """
mariadb-dump() {
    echo "-- MariaDB dump"
    echo "-- SET GLOBAL gtid_slave_pos='0-11-42';"
    echo "INSERT INTO t VALUES (1);"
    [ -e "$WORK/DUMP_BROKEN" ] || echo "-- Dump completed on 2026-12-02"
}
mariadb() {
    case "$*" in
    # The flush closes the log written during the dump; the next one is in use.
    *"FLUSH BINARY LOGS"*) echo "rotate" >>"$WORK/data/mysql-bin.000002" ;;
    *"SHOW MASTER STATUS"*) printf 'mysql-bin.000003\\t100\\n' ;;
    esac
}
"""


def run_backup(work: Path, *args: str, **params: str) -> subprocess.CompletedProcess[str]:
    text = program(
        backup.RUN,
        {
            "CLIENT": "mariadb",
            "DUMP": "mariadb-dump",
            "DUMP_POSITION": "--master-data=2 --gtid",
            "POSITION_PATTERN": backup._DUMP["mariadb"][2],
            "DATABASES": "console region",
            "DIRECTORY": str(work / "backups"),
            "KEEP": "2",
            "MAX_AGE_DAYS": "30",
            "STATE_DIR": str(work / "state"),
            "DATA_DIR": str(work / "data"),
            "LOGIN_DIR": str(work / "login"),
            "COPY_TARGET": "",
            "COPY_PORT": "",
            **params,
        },
    )
    # The stand-ins go after the parameters, before the program's own lines.
    text = text.replace("set -euo pipefail", "set -euo pipefail\n" + STANDINS, 1)
    return subprocess.run(
        ["bash", "-c", text, "backup", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "WORK": str(work)},
        timeout=60,
    )


def status(work: Path) -> dict[str, str]:
    lines = (work / "state" / "status").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for number in (1, 2, 3):
        (data / f"mysql-bin.00000{number}").write_text(f"log {number}\n")
    # flock on /run/lock is the node's; here a scratch lock keeps runs apart the same way.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


def test_a_run_keeps_a_checked_dump_with_its_position_and_the_closed_logs(work: Path) -> None:
    result = run_backup(work, "run")
    assert result.returncode == 0, result.stderr
    found = status(work)
    assert (found["result"], found["position"], found["copied"]) == ("ok", "0-11-42", "no")
    dump = Path(found["file"])
    check = subprocess.run(
        ["sha256sum", "-c", f"{dump.name}.sha256"], cwd=dump.parent, capture_output=True
    )
    assert check.returncode == 0
    assert (dump.parent / f"{dump.name}.position").read_text() == "0-11-42\n"
    # The log written during the dump, now closed; not the one in use, nor one that ended before.
    assert sorted(p.name for p in (dump.parent / "binlogs").iterdir()) == ["mysql-bin.000002"]
    assert oct(dump.parent.stat().st_mode & 0o777) == "0o700"
    assert run_backup(work, "status").stdout.startswith("time=")


def test_a_dump_that_did_not_complete_is_a_failed_run(work: Path) -> None:
    (work / "DUMP_BROKEN").write_text("")
    result = run_backup(work, "run")
    assert result.returncode != 0
    assert status(work)["result"] == "failed"
    assert not list((work / "backups").glob("*.sql.gz"))


def test_only_the_newest_backups_stay(work: Path) -> None:
    made = []
    for _ in range(3):
        assert run_backup(work, "run").returncode == 0
        made.append(status(work)["file"])
        # Dumps are named by the second they start in.
        subprocess.run(["sleep", "1.1"], check=True)
    kept = sorted(str(p) for p in (work / "backups").glob("*.sql.gz"))
    assert kept == sorted(made[1:]), kept
