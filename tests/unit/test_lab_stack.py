"""`lab/lab stack sync` tells a lab stack deployed to an earlier lab by its state's host keys."""

from __future__ import annotations

import json

from lab.labctl import node_address
from lab.stack import stale_nodes

OLD, NEW = "AAAAC3NzaC1lZDI1NTE5AAAAIOld", "AAAAC3NzaC1lZDI1NTE5AAAAINew"


def known_hosts(**keys: str) -> str:
    return "".join(f"{n},{node_address(n)} ssh-ed25519 {k}\n" for n, k in keys.items())


def state(connection: dict[str, str]) -> str:
    """An exported state whose step holds its connection in a secret, as JSON in a string."""
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
    secret["plaintext"] = json.dumps(connection)
    return json.dumps({"resources": [{"inputs": {"connection": secret}}]})


def test_same_lab() -> None:
    # node2 has a key the state lacks, but the stack does not use node2 (.12; .1 is no node).
    deployed = state({"host": node_address("node1"), "hostKey": f"ssh-ed25519 {OLD}"})
    assert stale_nodes(deployed, known_hosts(node1=OLD, node2=NEW)) == []


def test_new_lab() -> None:
    deployed = state({"host": node_address("node1"), "hostKey": f"ssh-ed25519 {OLD}"})
    assert stale_nodes(deployed, known_hosts(node1=NEW)) == ["node1"]
