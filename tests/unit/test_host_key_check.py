"""The host-key check that gates every preview and up: the provider against a stand-in
ssh-keyscan that answers as a re-keyed, a matching and an unreachable node would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.preflight.host_keys import _provider
from tests.unit.conftest import Deployment

PINNED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFh0c2hvc3Rrc3lzY2FuIHN0YW5kLWluIGtleSAxMjM0NTY3"
# What each address answers: the last argument of ssh-keyscan is the address.
KEYSCAN = f"""#!/bin/sh
for last; do :; done
case "$last" in
192.0.2.11) echo "192.0.2.11 {PINNED}" ;;
192.0.2.12) echo "# 192.0.2.12:22 SSH-2.0-OpenSSH_9.2" >&2; echo "192.0.2.12 {OTHER}" ;;
*) exit 1 ;;
esac
"""


@pytest.fixture
def keyscan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "ssh-keyscan"
    tool.write_text(KEYSCAN)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def pin(node: str, address: str) -> dict[str, object]:
    return {"node": node, "address": address, "port": 22, "key": PINNED}


def test_a_node_with_another_key_fails_the_check_by_name(keyscan: None) -> None:
    pins = [pin("rbd-1", "192.0.2.11"), pin("rbd-2", "192.0.2.12"), pin("rbd-3", "192.0.2.13")]
    result = _provider().check({}, {"pins": pins})
    messages = [failure.reason for failure in result.failures or []]
    assert len(messages) == 1, messages
    assert messages[0].startswith("rbd-2 (192.0.2.12:22) presents the host key SHA256:")
    assert "nothing was changed on any node" in messages[0]


def test_matching_and_unreachable_nodes_pass(keyscan: None) -> None:
    result = _provider().check({}, {"pins": [pin("rbd-1", "192.0.2.11"), pin("x", "192.0.2.99")]})
    assert not result.failures


def test_every_node_step_waits_for_the_check(dev: Deployment) -> None:
    (check,) = dev.of_type("pulumi-python:dynamic/preflight:HostKeys")
    assert [p["node"] for p in check.inputs["pins"]] == ["rbd-1", "rbd-2", "rbd-3"]
    for step in dev.of_type("command:remote:Command"):
        if step.name.startswith("preflight-"):
            assert check.urn in step.dependencies, step.name
