"""A node whose host key is not the pinned one stops the deploy before anything changes.

First deploy: the stack pins every node through `ssh.knownHostsFile`, a copy of the lab's
known_hosts in which node2's key is replaced by node1's, as if node2 had been swapped for another
machine. `pulumi up` of every node-changing component fails fast, the error names node2 and its
host key, no step connects to any node, and the nodes' /etc, accounts and enabled services are as
before. A running stack: node2 gets a new host key (as a reinstalled server would) after the gateway
pair is deployed, and an `up` that would change both gateway nodes stops before either changes.
About a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.keepalived import files
from lab.labctl import KNOWN_HOSTS, node_root, require_lab_up, ssh_argv
from tests.e2e.engine import exported_state
from tests.lab_stacks.audit import differences, node_items, on
from tests.lab_stacks.harness import component_stack, lab_config, set_section

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODES = ("node1", "node2", "node3")
COMPONENTS = ["gateway", "registry", "build", "database"]


def known_hosts_with_node2_replaced(path: Path) -> None:
    keys = {line.split()[0].split(",")[0]: line.split(maxsplit=1) for line in _lines()}
    keys["node2"] = [keys["node2"][0], keys["node1"][1]]
    path.write_text("".join(f"{hosts} {key}\n" for hosts, key in keys.values()))


def _lines() -> list[str]:
    return [line for line in KNOWN_HOSTS.read_text().splitlines() if line.strip()]


@dataclass
class FailedUp:
    stack: auto.Stack
    known_hosts: Path
    error: str
    seconds: float
    before: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def failed_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedUp]:
    require_lab_up()
    where = tmp_path_factory.mktemp("hostkeys")
    known_hosts = where / "known_hosts"
    known_hosts_with_node2_replaced(known_hosts)
    ssh = {**lab_config()["rainbond-ha:ssh"], "knownHostsFile": str(known_hosts)}
    before = {node: node_items(node) for node in NODES}
    stack = component_stack("hostkeys", where, COMPONENTS, overrides={"ssh": ssh})
    lines: list[str] = []
    try:
        start = time.monotonic()
        with pytest.raises(auto.CommandError) as error:
            stack.up(on_output=lines.append)
        yield FailedUp(stack, known_hosts, str(error.value), time.monotonic() - start, before)
    finally:
        stack.destroy(on_output=lines.append)


def test_only_node2s_pin_is_wrong(failed_up: FailedUp) -> None:
    lab, scratch = _lines(), failed_up.known_hosts.read_text().splitlines()
    changed = [(ours, theirs) for ours, theirs in zip(lab, scratch, strict=True) if ours != theirs]
    assert len(lab) == 3 and len(changed) == 1, changed
    assert changed[0][0].startswith("node2,") and changed[0][1].startswith("node2,")


def assert_refused_by_the_host_key_check(error: str) -> None:
    assert "preflight-host-keys" in error, error
    assert "node2 (" in error and "presents the host key SHA256:" in error, error
    assert "nothing was changed on any node" in error, error


def test_up_fails_naming_node2_and_the_host_key(failed_up: FailedUp) -> None:
    assert_refused_by_the_host_key_check(failed_up.error)
    assert failed_up.seconds < 60  # refused at once, not after dial retries


def test_no_step_connects_to_any_node(failed_up: FailedUp) -> None:
    resources = json.loads(exported_state(failed_up.stack))["deployment"]["resources"]
    names = {r["urn"].split("::")[-1] for r in resources if r["type"].startswith("command:")}
    # Not even the read-only facts: every step waits for the host-key check.
    assert names == set(), names


def test_nodes_are_unchanged(failed_up: FailedUp) -> None:
    for node in NODES:
        assert differences(failed_up.before[node], node_items(node)) == {}, node


HOST_KEYS = "/etc/ssh/ssh_host_*"


def rekey(node: str, saved: Path) -> None:
    """New host keys on `node`, as a reinstalled server has; the old ones are kept in `saved`."""
    root = node_root(node)
    saved.mkdir()
    for key in root.glob(HOST_KEYS.lstrip("/")):
        shutil.copy2(key, saved / key.name)
        key.unlink()
    on(node, "ssh-keygen -A >/dev/null && systemctl restart ssh")


def restore_keys(node: str, saved: Path) -> None:
    root = node_root(node)
    for key in root.glob(HOST_KEYS.lstrip("/")):
        key.unlink()
    for key in saved.iterdir():
        shutil.copy2(key, root / "etc" / "ssh" / key.name)
    # The node answers with its new key until sshd restarts: this one login accepts it.
    # (ssh takes the first value of an option, so the pinning options are replaced.)
    trusting = {
        f"UserKnownHostsFile={KNOWN_HOSTS}": "UserKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes": "StrictHostKeyChecking=no",
    }
    argv = [trusting.get(arg, arg) for arg in ssh_argv(node, "systemctl restart ssh")]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def test_a_rekeyed_node_of_a_running_stack_stops_the_up_before_any_change(
    tmp_path: Path,
) -> None:
    require_lab_up()
    stack = component_stack("rekeyed", tmp_path, ["gateway"])
    stack.up(on_output=print)
    try:
        rekey("node2", tmp_path / "keys")
        try:
            before = {
                node: on(node, f"cat {files.CONFIG_DIR}/*.conf") for node in ("node1", "node2")
            }
            gateway = lab_config()["rainbond-ha:gateway"]
            set_section(stack, "gateway", {**gateway, "checkPorts": [80, 443, 8443]})
            with pytest.raises(auto.CommandError) as error:
                stack.up(on_output=print)
            assert_refused_by_the_host_key_check(str(error.value))
            for node, config in before.items():
                assert on(node, f"cat {files.CONFIG_DIR}/*.conf") == config, node
        finally:
            restore_keys("node2", tmp_path / "keys")
    finally:
        set_section(stack, "gateway", lab_config()["rainbond-ha:gateway"])
        stack.destroy(on_output=print)
