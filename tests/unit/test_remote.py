"""Remote steps: parameters survive the shell; what a step renders changes it in place."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from components.shared.remote import render
from tests.node_scripts import script_files
from tests.unit.conftest import Deployment, deploy
from tests.unit.plan import next_release, plan

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


def test_each_node_gets_its_own_rendering(dev: Deployment) -> None:
    first = dev.named("gateway-keepalived-rbd-1")
    second = dev.named("gateway-keepalived-rbd-2")
    # Same script, different priority and peers.
    assert "priority 100" in first.inputs["create"]
    assert "priority 50" in second.inputs["create"]


def test_a_new_release_of_every_script_updates_every_step_in_place(
    dev: Deployment, dev_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    next_release(monkeypatch)
    after = deploy(dev_config)
    changes = plan(dev, after, COMMAND)
    assert set(changes.values()) == {"update"}, changes
    # The local ones (preflight's clock readings follow their node's facts) update too.
    local = plan(dev, after, "command:local:Command")
    assert set(local.values()) <= {"same", "update"}, local


def test_steps_of_stacks_deployed_with_script_digests_update_in_place(dev: Deployment) -> None:
    # Earlier releases kept a digest of the script in `triggers`; the engine keeps that value.
    for step in dev.of_type(COMMAND):
        assert "triggers" in step.ignore_changes, step.name
        assert step.inputs.get("triggers") is None
