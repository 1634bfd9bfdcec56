"""The lab's address plan (lab/subnet.py) and the lab stack's file agree.

Pulumi.lab.yaml is YAML and cannot import the addresses, so this test is what keeps it in step.
"""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from typing import Any

import pytest
import yaml

from lab.labctl import HOST_ADDR, PREFIX_LEN, SUBNET, VIP, address, node_address
from tests.unit.conftest import ROOT


def lab_stack() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())["config"]
    return config


def test_lab_stack_nodes_are_at_the_lab_addresses() -> None:
    nodes = lab_stack()["rainbond-ha:nodes"]
    assert [n["address"] for n in nodes] == [node_address(n["name"]) for n in nodes]


def test_lab_stack_vip_is_the_reserved_one() -> None:
    assert lab_stack()["rainbond-ha:gateway"]["vip"] == f"{VIP}/{PREFIX_LEN}"


def test_address_plan() -> None:
    assert address(1) == HOST_ADDR and ip_address(HOST_ADDR) in ip_network(SUBNET)
    assert [node_address(f"node{i}") for i in (1, 2)] == [address(11), address(12)]
    assert address(10) == VIP
    with pytest.raises(ValueError, match="not a lab node name"):
        node_address("gateway")
    with pytest.raises(ValueError, match="no host"):
        address(255)
