"""`python -m config check|schema` as a user runs them (two in a process of their own, the
rest through the same entry point in this one)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import yaml

from config.__main__ import main
from tests.unit.conftest import ROOT


def run_config(*args: str, home: Path, process: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m config ARGS` from the project root with HOME=home: in a new process when
    `process`, else in this one (the same `main`, without the interpreter's start-up)."""
    if process:
        return subprocess.run(
            [sys.executable, "-m", "config", *args],
            cwd=ROOT,
            env={**os.environ, "HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    out, err = io.StringIO(), io.StringIO()
    with (
        patch.dict(os.environ, {"HOME": str(home)}),
        contextlib.chdir(ROOT),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(list(args))
    return subprocess.CompletedProcess(
        ["python", "-m", "config", *args], code, out.getvalue(), err.getvalue()
    )


def dev_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    return config


def write_stack(tmp_path: Path, edit: dict[str, Any]) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"].update(edit)
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_dev_stack_checks_clean(home: Path) -> None:
    result = run_config("check", "Pulumi.dev.yaml", home=home, process=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "warning: registry.mode: managed runs one registry" in result.stderr


def test_dev_stack_checks_without_the_key_file(tmp_path: Path) -> None:
    # Reviewing a stack file must work where the key is not; preview is where it is needed.
    result = run_config("check", "Pulumi.dev.yaml", home=tmp_path)
    assert result.returncode == 0
    assert "warning: ssh.privateKeyFile: " in result.stderr


def test_five_mistakes_print_five_lines(home: Path, tmp_path: Path) -> None:
    dev = dev_config()
    nodes = dev["rainbond-ha:nodes"]
    for node in nodes[:2]:
        node["roles"] = ["master", "gateway", "mysql"]  # no build node
    stack = write_stack(
        tmp_path,
        {
            "rainbond-ha:nodes": nodes,
            "rainbond-ha:gateway": {**dev["rainbond-ha:gateway"], "vip": "192.0.2.11/24"},
            "rainbond-ha:database": {**dev["rainbond-ha:database"], "replica": "rbd-1"},
            "rainbond-ha:registry": {"mode": "harbor"},
            "rainbond-ha:kubernetes": {**dev["rainbond-ha:kubernetes"], "version": 130},
        },
    )
    result = run_config("check", str(stack), home=home)
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert [line.split(":")[0] for line in lines] == [
        "kubernetes.version",
        "registry.mode",
        "nodes",
        "gateway.vip",
        "database.replica",
    ]
    assert all("; " in line for line in lines)


def test_encrypted_secrets_are_accepted_plain_ones_are_not(home: Path, tmp_path: Path) -> None:
    nodes = dev_config()["rainbond-ha:nodes"]
    nodes[2]["roles"] = ["master"]
    external = {"mode": "external", "domain": "harbor.example", "username": "rainbond"}
    encrypted = write_stack(
        tmp_path,
        {
            "rainbond-ha:nodes": nodes,
            "rainbond-ha:registry": {**external, "password": {"secure": "v1:abc"}},
        },
    )
    assert run_config("check", str(encrypted), home=home).returncode == 0
    plain = write_stack(
        tmp_path,
        {"rainbond-ha:nodes": nodes, "rainbond-ha:registry": {**external, "password": "hunter2"}},
    )
    result = run_config("check", str(plain), home=home)
    assert result.returncode == 1
    assert result.stdout.startswith("registry.password: is stored in plain text")
    assert "hunter2" not in result.stdout + result.stderr


def test_a_missing_file_cannot_be_checked(home: Path, tmp_path: Path) -> None:
    result = run_config("check", str(tmp_path / "Pulumi.none.yaml"), home=home)
    assert result.returncode == 2
    assert "Pulumi.none.yaml: cannot open it (No such file or directory)" in result.stderr


def test_schema_describes_every_section(home: Path) -> None:
    result = run_config("schema", home=home, process=True)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    config = schema["properties"]["config"]
    assert sorted(config["properties"]) == sorted(
        f"rainbond-ha:{key}"
        for key in (
            "nodes",
            "ssh",
            "kubernetes",
            "gateway",
            "registry",
            "database",
            "rainbond",
            "preflight",
        )
    )
    assert sorted(config["required"]) == sorted(
        f"rainbond-ha:{key}" for key in ("nodes", "kubernetes", "gateway", "registry", "database")
    )


def test_five_node_example_checks_clean(home: Path) -> None:
    result = run_config("check", "docs/examples/Pulumi.five-nodes.yaml", home=home)
    assert result.returncode == 0, result.stdout
    assert result.stderr.splitlines() == ["docs/examples/Pulumi.five-nodes.yaml: valid"]
