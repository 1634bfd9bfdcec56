"""A stack that runs a copy of the program, so a test can change it as a later release would."""

from __future__ import annotations

import shutil
from pathlib import Path

from pulumi import automation as auto

from tests.e2e.engine import PROJECT_ROOT

# What a scratch project imports: the program and the packages it uses.
RELEASE = [
    "config",
    "components",
    "tests/__init__.py",
    "tests/lab_stacks/__init__.py",
    "tests/lab_stacks/program.py",
]


def copy_release(target: Path, source: Path = PROJECT_ROOT) -> Path:
    """The program's files from `source` (a checkout) into `target`; returns `target`."""
    for entry in RELEASE:
        origin = source / entry
        if origin.is_dir():
            shutil.copytree(origin, target / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (target / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / entry)
    return target


def run_from(stack: auto.Stack, release: Path) -> None:
    """Points the stack's scratch project (harness.component_stack) at the program in `release`."""
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir
    main = Path(workspace.work_dir) / "__main__.py"
    text = main.read_text()
    current = text.split("sys.path.insert(0, ", 1)[1].split(")", 1)[0]
    main.write_text(text.replace(current, repr(str(release))))


def edit(release: Path, path: str, old: str, new: str) -> None:
    """Changes one file of the copy as a later release would; `old` must be there."""
    target = release / path
    text = target.read_text()
    assert old in text, f"{path} no longer holds {old!r}"
    target.write_text(text.replace(old, new, 1))
