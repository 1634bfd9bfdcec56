"""A broken stack stops `pulumi preview` before any resource is registered, naming the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.engine import PROJECT_ROOT, copy_of_project
from tests.e2e.engine import stack as engine_stack

CORPUS = PROJECT_ROOT / "tests" / "corpus" / "bad-stacks"


@pytest.mark.parametrize(
    ("corpus_file", "key"),
    [
        ("05-no-master.yaml", "nodes:"),
        ("06-vip-is-node-address.yaml", "gateway.vip:"),
        ("09-missing-key-file.yaml", "ssh.privateKeyFile:"),
    ],
)
def test_broken_stack_registers_nothing(tmp_path: Path, corpus_file: str, key: str) -> None:
    project = copy_of_project(tmp_path / "project", [])
    shutil.copy(CORPUS / corpus_file, project / "Pulumi.bad.yaml")
    shutil.copy(CORPUS / "ssh-key-placeholder", project / "ssh-key-placeholder")
    stack = engine_stack("bad", project, tmp_path / "state")

    events: list[auto.EngineEvent] = []
    with pytest.raises(auto.CommandError) as failure:
        stack.preview(on_event=events.append)

    assert "invalid stack configuration" in str(failure.value)
    assert key in str(failure.value)
    registered = {e.resource_pre_event.metadata.type for e in events if e.resource_pre_event}
    assert registered <= {"pulumi:pulumi:Stack"}
