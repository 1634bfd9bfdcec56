"""Rendering of remote steps: parameters survive the shell, triggers follow the rendering."""

from __future__ import annotations

import subprocess

import pytest

from components.shared.remote import render
from tests.node_scripts import script_files
from tests.unit.conftest import Deployment

COMMAND = "command:remote:Command"


@pytest.mark.parametrize("value", ["plain", "two words", 'it\'s "quoted" $HOME `x`', ""])
def test_parameters_reach_the_script_verbatim(value: str) -> None:
    command = render('printf "%s" "$VALUE"', {"VALUE": value})
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert result.stdout == value


def test_every_script_parses() -> None:
    scripts = script_files()
    assert scripts
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_node_changing_steps_undo_themselves(dev: Deployment) -> None:
    for step in dev.of_type(COMMAND):
        read_only = step.name.startswith("preflight-") or step.name == "kubernetes-kubeconfig"
        assert ("delete" in step.inputs) != read_only, step.name


def test_triggers_hash_what_the_step_renders(dev: Deployment) -> None:
    first = dev.named("gateway-keepalived-rbd-1")
    second = dev.named("gateway-keepalived-rbd-2")
    # Same script, different priority and peers: different renderings, different triggers.
    assert first.inputs["create"] != second.inputs["create"]
    assert first.inputs["triggers"] != second.inputs["triggers"]
    assert "priority 100" in first.inputs["create"]
    assert "priority 50" in second.inputs["create"]
