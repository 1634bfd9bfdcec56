"""The engine refuses to move the managed registry's role while its images are on the old node:
the placement the first `up` recorded is what the preview of the move is checked against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.engine import PROJECT_ROOT, exported_state, stack
from tests.e2e.offline.test_engine import tiny_project

PLACEMENT_PROGRAM = """
import sys

sys.path.insert(0, {root!r})

import pulumi
from components.registry.placement import RegistryPlacement

config = pulumi.Config()
RegistryPlacement(
    "registry-placement",
    node=config.require("node"),
    storage="filesystem",
    moved_from=config.get("movedFrom"),
    opts=pulumi.ResourceOptions(),
)
"""


def test_moving_the_registry_is_refused_until_the_copy_is_acknowledged(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "placement")
    (project / "__main__.py").write_text(PLACEMENT_PROGRAM.format(root=str(PROJECT_ROOT)))
    s = stack("placement", project, tmp_path / "state")
    s.set_config("node", auto.ConfigValue("node3"))
    assert s.up().summary.resource_changes == {"create": 2}

    s.set_config("node", auto.ConfigValue("node2"))
    with pytest.raises(auto.CommandError) as refused:
        s.preview()
    assert "the managed registry's images are on node3" in str(refused.value)
    assert "registry.movedFrom: node3" in str(refused.value)
    with pytest.raises(auto.CommandError):
        s.up()
    assert recorded_node(s) == "node3"

    s.set_config("movedFrom", auto.ConfigValue("node3"))
    assert s.preview().change_summary == {"same": 1, "update": 1}
    s.up()
    assert recorded_node(s) == "node2"
    assert s.preview().change_summary == {"same": 2}


def recorded_node(s: auto.Stack) -> str:
    (placement,) = (
        r
        for r in json.loads(exported_state(s))["deployment"]["resources"]
        if r["type"] == "pulumi-python:dynamic/registry:Placement"
    )
    node: str = placement["outputs"]["node"]
    return node
