"""The managed registry moves from node3 to node2 as docs/operations.md ("Moving the registry")
says: refused while the images are only on node3; once they are copied and registry.movedFrom
says so, node2 serves the same digests with a CA every node trusts, node3's registry is removed
and its images stay on its disk. About 3 minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
from pulumi import automation as auto

from lab.labctl import node_address, require_lab_up
from tests.lab_stacks.audit import on
from tests.lab_stacks.harness import lab_config, set_section
from tests.lab_stacks.probes import Manifest
from tests.lab_stacks.test_registry import KEEPING_IMAGES, REMOVE_IMAGES, registry_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

OLD, NEW = "node3", "node2"
DATA = "/var/lib/docker-registry"
CA_FILE = "/usr/local/share/ca-certificates/rainbond-ha-registry.crt"
REPOSITORY, TAG = "rainbond/moved", "1"


def nodes_with_registry_on(node: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = lab_config()["rainbond-ha:nodes"]
    for entry in nodes:
        roles = [role for role in entry["roles"] if role != "registry"]
        entry["roles"] = [*roles, "registry"] if entry["name"] == node else roles
    return nodes


def manifest(outputs: MutableMapping[str, auto.OutputValue], node: str) -> Manifest:
    registry = outputs["registry"].value
    assert registry["domain"] == f"{node_address(node)}:5000"
    return Manifest(
        registry["domain"], registry["username"], registry["password"], on(node, f"cat {CA_FILE}")
    )


# No repr: the outputs hold the registry's password.
@dataclass(repr=False)
class Moved:
    stack: auto.Stack
    refusal: str
    digest: str
    outputs: MutableMapping[str, auto.OutputValue]


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moved]:
    require_lab_up()
    where = tmp_path_factory.mktemp("registrymove")
    stack = registry_stack("registrymove", where, {"nodes": nodes_with_registry_on(OLD)})
    try:
        digest = manifest(stack.up(color="never").outputs, OLD).push(REPOSITORY, TAG)
        set_section(stack, "nodes", nodes_with_registry_on(NEW))
        with pytest.raises(auto.CommandError) as refused:
            stack.preview(color="never")
        # The copy the runbook makes: the data directory, the old registry stopped.
        copy = on(OLD, f"systemctl stop docker-registry && tar -C {DATA} -cf - . | base64 -w0")
        on(NEW, f"mkdir -p {DATA} && base64 -d | tar -C {DATA} -xf -", copy)
        set_section(stack, "registry", {**KEEPING_IMAGES, "movedFrom": OLD})
        up = stack.up(color="never", on_output=print)
        yield Moved(stack, str(refused.value), digest, up.outputs)
    finally:
        stack.destroy(color="never", on_output=print)
        for node in (OLD, NEW):
            on(node, REMOVE_IMAGES)


def test_the_move_is_refused_until_the_copy_is_acknowledged(moved: Moved) -> None:
    assert f"the managed registry's images are on {OLD} ({DATA})" in moved.refusal
    assert f"registry.movedFrom: {OLD}" in moved.refusal


def test_the_new_node_serves_the_copied_image_by_its_digest(moved: Moved) -> None:
    served = manifest(moved.outputs, NEW)
    assert served.fetcher(REPOSITORY, TAG, moved.digest)(0) == moved.digest
    # The copied files are the registry's own: it adds to them.
    served.push(REPOSITORY, "2")


def test_every_node_trusts_the_new_registry(moved: Moved) -> None:
    domain = moved.outputs["registry"].value["domain"]
    for node in ("node1", "node2", "node3"):
        code = on(node, f"curl -s -o /dev/null -w '%{{http_code}}' https://{domain}/v2/")
        assert code.strip() == "401", node


def test_the_old_node_keeps_its_images_and_runs_no_registry(moved: Moved) -> None:
    assert on(OLD, "dpkg-query -W docker-registry >/dev/null 2>&1 || echo gone").strip() == "gone"
    assert on(OLD, "test -e /etc/docker/registry || echo gone").strip() == "gone"
    repositories = f"{DATA}/docker/registry/v2/repositories/rainbond"
    assert "moved" in on(OLD, f"ls {repositories}").split()
    for port in (5000, 5080):
        answer = f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 http://127.0.0.1:{port}/"
        assert on(OLD, f"{answer} || true").strip() == "000", port


def test_a_further_preview_changes_nothing(moved: Moved) -> None:
    assert set(moved.stack.preview(color="never").change_summary) == {"same"}
