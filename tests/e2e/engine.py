"""Running the real pulumi engine from tests: a throwaway local backend and passphrase per test."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from pulumi import automation as auto

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEST_PASSPHRASE = "rainbond-ha-test-passphrase"


def toolchain_versions() -> dict[str, str]:
    """The pins in toolchain/versions.env."""
    pins: dict[str, str] = {}
    for line in (PROJECT_ROOT / "toolchain" / "versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key] = value
    return pins


@functools.cache
def engine_tmp() -> Path:
    """The engine's TMPDIR: private to this process and removed when it exits.

    The kubernetes provider writes every kubeconfig it is given (client key included) to a new
    file in TMPDIR, for Helm, and never removes it.
    """
    path = Path(tempfile.mkdtemp(prefix="rbd-engine-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def engine_env(state_dir: Path) -> dict[str, str]:
    """Environment for a pulumi process with its state in state_dir."""
    return {
        "PULUMI_BACKEND_URL": state_dir.as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": TEST_PASSPHRASE,
        "TMPDIR": str(engine_tmp()),
    }


def pulumi_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Output of one pulumi CLI call."""
    result = subprocess.run(
        ["pulumi", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def stack(
    name: str, work_dir: Path, state_dir: Path, extra_env: dict[str, str] | None = None
) -> auto.Stack:
    """A new stack of the program in work_dir, run through the Automation API."""
    state_dir.mkdir(parents=True, exist_ok=True)
    env = {**engine_env(state_dir), **(extra_env or {})}
    options = auto.LocalWorkspaceOptions(work_dir=str(work_dir), env_vars=env)
    return auto.create_or_select_stack(stack_name=name, work_dir=str(work_dir), opts=options)


def exported_state(s: auto.Stack, *, show_secrets: bool = False) -> str:
    """`pulumi stack export` output; the Automation API's own export always decrypts secrets."""
    workspace = s.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir
    reveal = ["--show-secrets"] if show_secrets else []
    return subprocess.run(
        ["pulumi", "stack", "export", *reveal, "--stack", s.name],
        cwd=workspace.work_dir,
        env={**os.environ, **(workspace.env_vars or {})},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


PROGRAM = ["Pulumi.yaml", "__main__.py", "config", "components"]


def write_project_file(folder: Path, name: str) -> None:
    """A Pulumi.yaml for a scratch project that runs in this project's virtualenv."""
    runtime = {"name": "python", "options": {"virtualenv": str(PROJECT_ROOT / ".venv")}}
    (folder / "Pulumi.yaml").write_text(yaml.safe_dump({"name": name, "runtime": runtime}))


def copy_of_project(where: Path, stack_files: list[str]) -> Path:
    """The program and some stack files in a scratch folder, so stack init cannot touch the repo."""
    where.mkdir()
    for name in [*PROGRAM, *stack_files]:
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, where / name)
    (where / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    return where
