"""Moving the managed registry to another node: refused while its images are on the old node's
disk, and once they are copied (registry.movedFrom), the old node's registry removed first."""

from __future__ import annotations

from typing import Any

from components.registry.placement import _provider
from tests.unit.conftest import Deployment, deploy, edited, unwrap
from tests.unit.edits import put
from tests.unit.plan import COMMAND, change, plan

DATA_DIR = "/var/lib/docker-registry"
ON_RBD_3 = {"node": "rbd-3", "storage": "filesystem", "movedFrom": None}


def refusals(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    result = _provider(DATA_DIR).check(olds, news)
    return [failure.reason for failure in result.failures or []]


def test_moving_the_images_node_is_refused_naming_the_key_and_both_nodes() -> None:
    (reason,) = refusals(ON_RBD_3, {**ON_RBD_3, "node": "rbd-2"})
    assert reason.startswith(f"the managed registry's images are on rbd-3 ({DATA_DIR})")
    assert "registry to rbd-2 would start an empty registry there" in reason
    assert "registry.movedFrom: rbd-3" in reason


def test_a_move_passes_once_the_copy_is_acknowledged_or_the_images_are_in_s3() -> None:
    assert not refusals(ON_RBD_3, {**ON_RBD_3, "node": "rbd-2", "movedFrom": "rbd-3"})
    in_s3 = {**ON_RBD_3, "storage": "s3"}
    assert not refusals(in_s3, {**in_s3, "node": "rbd-2"})
    # An acknowledgement naming another node is not one for this move.
    assert refusals(ON_RBD_3, {**ON_RBD_3, "node": "rbd-2", "movedFrom": "rbd-1"})


def test_the_first_deployment_and_unmoved_registry_pass() -> None:
    assert not refusals({}, ON_RBD_3)
    assert not refusals(ON_RBD_3, dict(ON_RBD_3))


def moved(dev_config: dict[str, Any]) -> Deployment:
    """The role registry given to rbd-2 once rbd-3's images are copied there."""
    nodes = dev_config["nodes"]
    return deploy(
        edited(
            dev_config,
            put("nodes[1].roles", [*nodes[1]["roles"], "registry"]),
            put("nodes[2].roles", ["master"]),
            put("registry.movedFrom", "rbd-3"),
        )
    )


def test_a_move_replaces_the_servers_steps_and_updates_the_trust(
    dev: Deployment, dev_config: dict[str, Any]
) -> None:
    after = moved(dev_config)
    placement = after.named("registry-placement")
    assert unwrap(placement.inputs)["node"] == "rbd-2"
    assert placement.urn in after.named("registry-tls").dependencies
    changes = {
        name: what
        for name, what in plan(dev, after, COMMAND).items()
        if name.startswith("registry-")
    }
    # Replaced: rbd-3's delete (its registry stopped, its images left) runs before rbd-2's create.
    assert changes.pop("registry-tls") == changes.pop("registry-server") == "replace"
    assert set(changes.values()) == {"update"}, changes
    assert change(dev.named("registry-placement"), placement) == "update"
