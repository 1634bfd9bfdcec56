"""Build nodes: the rbd-chaos directories, made and removed by the real scripts in a scratch dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

from components.build.component import PREPARE, spinning_dirs
from components.shared.remote import render
from tests.unit.conftest import Deployment


def run(step: str, root: Path) -> str:
    params = {"CACHE_DIR": str(root / "rainbond/cache"), "DATA_DIR": str(root / "rainbond/grdata")}
    command = render(PREPARE.delete.text if step == "prepare-delete" else PREPARE.text, params)
    return subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, check=True
    ).stdout


def test_prepare_twice_then_delete_leaves_nothing(tmp_path: Path) -> None:
    run("prepare", tmp_path)
    out = run("prepare", tmp_path)
    assert (tmp_path / "rainbond/cache").is_dir() and (tmp_path / "rainbond/grdata").is_dir()
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["rotational", str(tmp_path / "rainbond/cache")],
        ["rotational", str(tmp_path / "rainbond/grdata")],
    ]
    run("prepare-delete", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_delete_keeps_a_directory_with_data(tmp_path: Path) -> None:
    run("prepare", tmp_path)
    (tmp_path / "rainbond/grdata/app.tgz").write_text("data")
    out = run("prepare-delete", tmp_path)
    assert not (tmp_path / "rainbond/cache").exists()
    assert (tmp_path / "rainbond/grdata/app.tgz").read_text() == "data"
    assert f"kept {tmp_path / 'rainbond/grdata'}: not empty" in out


def test_spinning_dirs() -> None:
    out = (
        "rotational\t/opt/rainbond/cache\t1\nrotational\t/opt/rainbond/grdata\t0\nrotational\t/x\t"
    )
    assert spinning_dirs(out) == ["/opt/rainbond/cache"]


def test_build_steps_on_build_nodes_only(dev: Deployment) -> None:
    (component,) = dev.of_type("rainbond-ha:build:BuildNodes")
    steps = sorted(r.name for r in dev.children(component))
    assert steps == ["build-rbd-1", "build-rbd-2"]
    assert "CACHE_DIR=/opt/rainbond/cache" in dev.named("build-rbd-1").inputs["create"]
