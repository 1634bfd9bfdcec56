"""`pulumi preview` of the documented production stack: every component and the release, offline.

The dev stack's addresses are examples that must never be contacted; this tier runs in a network
namespace with only loopback, so a connection attempt could not leave the machine anyway, and the
preview must still succeed without one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pulumi import automation as auto

from tests.e2e.engine import copy_of_project
from tests.e2e.engine import stack as engine_stack
from tests.unit.conftest import write_known_hosts


def test_dev_stack_previews_every_component_and_the_release(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "rainbond_ha_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    write_known_hosts(home)

    project = copy_of_project(tmp_path / "project", ["Pulumi.dev.yaml"])
    stack = engine_stack("dev", project, tmp_path / "state", {"HOME": str(home)})

    events: list[auto.EngineEvent] = []
    result = stack.preview(on_event=events.append)

    planned = {
        e.resource_pre_event.metadata.type for e in events if e.resource_pre_event is not None
    }
    for component in (
        "rainbond-ha:platform:RainbondPlatform",
        "rainbond-ha:preflight:Preflight",
        "rainbond-ha:kubernetes:KubernetesCluster",
        "rainbond-ha:gateway:GatewayVip",
        "rainbond-ha:build:BuildNodes",
        "rainbond-ha:registry:ImageRegistry",
        "rainbond-ha:database:MySQLReplication",
        "rainbond-ha:rainbond:RainbondRelease",
        "kubernetes:helm.sh/v3:Release",
        "command:remote:Command",
        "random:index/randomPassword:RandomPassword",
    ):
        assert component in planned, f"{component} missing from the preview"
    assert result.change_summary[auto.OpType.CREATE] >= len(planned)
    diagnostics = [e.diagnostic_event for e in events if e.diagnostic_event is not None]
    assert not [d for d in diagnostics if d.severity == "error"]
