"""Deployed stacks keep their resource names: every URN a shipped stack registered at the release
recorded in `fixtures/urns.json` is registered again now, or is carried over by an alias.

A name that changes without an alias makes the engine delete the old resource and create a new
one on the next `pulumi up`: for a node step, that runs its delete script on a running platform.
Regenerate the fixture only for a new baseline release: `python -m tests.unit.test_urns`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.conftest import FAKE_KUBECONFIG, ROOT, deploy, stack_config

FIXTURE = Path(__file__).parent / "fixtures" / "urns.json"
STACKS = {
    "dev": ROOT / "Pulumi.dev.yaml",
    "lab": ROOT / "Pulumi.lab.yaml",
    "five-nodes": ROOT / "docs" / "examples" / "Pulumi.five-nodes.yaml",
}


def _config(stack: str, home: Path) -> dict[str, Any]:
    config = stack_config(STACKS[stack])
    if stack == "lab":
        # The lab's key and known_hosts exist only while a lab is up; the names do not need them.
        config["ssh"] = {
            **config["ssh"],
            "privateKeyFile": str(home / ".ssh" / "rainbond_ha_ed25519"),
            "knownHostsFile": str(home / ".ssh" / "rainbond_ha_known_hosts"),
        }
        config["kubernetes"] = {"mode": "existing", "kubeconfig": FAKE_KUBECONFIG}
    return config


def registered(stack: str, home: Path) -> tuple[set[str], set[str]]:
    """The URNs a stack registers now, and those its aliases carry over."""
    deployment = deploy(_config(stack, home))
    urns = set(deployment.registrations)
    aliases = {
        alias
        for registration in deployment.registrations.values()
        for alias in registration.aliases
    }
    return urns, aliases


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_released_urn_is_still_registered_or_aliased(stack: str, home: Path) -> None:
    released = set(json.loads(FIXTURE.read_text())["stacks"][stack])
    urns, aliases = registered(stack, home)
    assert sorted(released - urns - aliases) == []


def main() -> None:
    import subprocess
    import tempfile

    from tests.unit.conftest import write_known_hosts

    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        home = Path(tmp)
        patch.setenv("HOME", str(home))
        (home / ".ssh").mkdir()
        (home / ".ssh" / "rainbond_ha_ed25519").write_text("fake\n")
        write_known_hosts(home)
        stacks = {stack: sorted(registered(stack, home)[0]) for stack in sorted(STACKS)}
    release = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    FIXTURE.write_text(json.dumps({"release": release, "stacks": stacks}, indent=1) + "\n")


if __name__ == "__main__":
    main()
