"""kubeadm's etcd snapshot program, run here against a stand-in `curl` that streams what etcd's
gRPC gateway sends (the steps are in test_kubeadm.py; the lab test snapshots a real member)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from components.kubernetes import etcd_snapshots
from components.shared.remote import program

# A stand-in for the gateway's stream: the database in chunks, then its SHA-256 (zeros with
# WRONG_SUM), as protojson writes them, a space after each colon.
CURL = """
curl() {
    python3 - "$WORK/db" "$WORK/WRONG_SUM" <<'EOF'
import base64, hashlib, json, os, sys
data = open(sys.argv[1], "rb").read()
chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
chunks.append(bytes(32) if os.path.exists(sys.argv[2]) else hashlib.sha256(data).digest())
for chunk in chunks:
    print(json.dumps({"result": {"blob": base64.b64encode(chunk).decode()}}))
EOF
}
date() {
    count=$(cat "$WORK/runs" 2>/dev/null || echo 0)
    echo $((count + 1)) >"$WORK/runs"
    printf '20261203T0000%02dZ\\n' "${count}"
}
"""


def snapshot(work: Path) -> subprocess.CompletedProcess[str]:
    text = program(
        etcd_snapshots.RUN,
        {"NODE_NAME": "rbd-1", "DIRECTORY": str(work / "snapshots"), "RETENTION": "2"},
    )
    text = text.replace("set -euo pipefail", "set -euo pipefail\n" + CURL, 1)
    return subprocess.run(
        ["bash", "-c", text],
        capture_output=True,
        text=True,
        env={**os.environ, "WORK": str(work)},
        timeout=60,
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "db").write_bytes(os.urandom(5000))
    return tmp_path


def saved(work: Path) -> list[str]:
    return sorted(p.name for p in (work / "snapshots").iterdir())


def test_a_snapshot_is_the_database_and_the_sum_etcd_sent(work: Path) -> None:
    result = snapshot(work)
    assert result.returncode == 0, result.stderr
    (name,) = saved(work)
    data = (work / "db").read_bytes()
    assert (work / "snapshots" / name).read_bytes() == data + hashlib.sha256(data).digest()
    assert oct((work / "snapshots").stat().st_mode & 0o777) == "0o700"


def test_a_snapshot_that_fails_its_sum_is_not_kept(work: Path) -> None:
    (work / "WRONG_SUM").write_text("")
    result = snapshot(work)
    assert result.returncode != 0
    assert "does not match the checksum" in result.stdout
    assert saved(work) == []


def test_only_the_newest_snapshots_stay(work: Path) -> None:
    for _ in range(3):
        assert snapshot(work).returncode == 0
    assert saved(work) == [f"etcd-rbd-1-20261203T0000{n:02d}Z.db" for n in (1, 2)]
