"""keepalived's rendered files, the gateway's health check, and the steps that carry them."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

import pytest

from components.keepalived import files
from tests.unit.conftest import Deployment, deploy, edited, fake_password, unwrap

GATEWAY = files.Instance(
    name="rainbond-gateway",
    interface="eth0",
    router_id=51,
    priority=100,
    vip=IPv4Interface("192.0.2.10/24"),
    source=IPv4Address("192.0.2.11"),
    peers=(IPv4Address("192.0.2.12"),),
    check_ports=(80, 443),
)
# A VRRP instance on three masters, seen from the second, without any health check.
API = replace(
    GATEWAY,
    name="rainbond-api",
    router_id=52,
    priority=50,
    vip=IPv4Interface("192.0.2.20/24"),
    source=IPv4Address("192.0.2.12"),
    peers=(IPv4Address("192.0.2.11"), IPv4Address("192.0.2.13")),
    check_ports=(),
)


def block(text: str, header: str) -> list[str]:
    """The stripped lines inside `header { ... }` (nested blocks included)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{header} {{")
    depth, body = 1, list[str]()
    for line in lines[start + 1 :]:
        depth += line.count("{") - line.count("}")
        if depth == 0:
            return body
        if not line.strip().startswith("#"):
            body.append(line.strip())
    raise AssertionError(f"{header} is not closed")


def test_gateway_instance_is_rainbonds_pair_over_unicast() -> None:
    instance = block(files.instance_config(GATEWAY), "vrrp_instance rainbond-gateway")
    for line in [
        "state BACKUP",
        "nopreempt",
        "interface eth0",
        "virtual_router_id 51",
        "priority 100",
        "unicast_src_ip 192.0.2.11",
        "unicast_fault_no_peer",
        "auth_type PASS",
        f"auth_pass {files.AUTH_PLACEHOLDER}",
        "192.0.2.10/24 dev eth0",
        "rainbond-gateway-check",
    ]:
        assert line in instance, line
    assert block(files.instance_config(GATEWAY), "unicast_peer") == ["192.0.2.12"]
    # A node leaving the group still holds the VIP while the others already dropped it from their
    # peers: they must keep hearing its adverts or both would hold the VIP.
    assert "check_unicast_src" not in instance


def test_no_instance_is_strict() -> None:
    # vrrp_strict adds firewall rules that drop traffic to the VIP: it must never appear.
    for text in (files.instance_config(GATEWAY), files.instance_config(API), files.main_config()):
        assert "strict" not in text and "no_accept" not in text


def test_a_failed_check_faults_the_instance_instead_of_lowering_its_priority() -> None:
    """Under nopreempt a lower priority never moves the VIP; only FAULT (weight 0) does."""
    check = block(files.instance_config(GATEWAY), "vrrp_script rainbond-gateway-check")
    assert f'script "{GATEWAY.check_path}"' in check
    assert "weight 0" in check
    interval, fall = (int(_value(check, key)) for key in ("interval", "fall"))
    assert interval * fall <= 2  # plus about 1 s for the peer to take over: under 5 s
    assert int(_value(check, "timeout")) > len(GATEWAY.check_ports)  # 1 s per port connect


def _value(lines: list[str], key: str) -> str:
    return next(line.split()[1] for line in lines if line.split()[0] == key)


@pytest.mark.parametrize(
    ("instance", "waits"),
    [(GATEWAY, "timeout 1 bash"), (replace(API, check_readyz=6443), "--max-time 2")],
    ids=["ports", "readyz"],
)
def test_the_failover_bound_is_what_the_rendered_files_allow(
    instance: files.Instance, waits: str
) -> None:
    """A hung service: `fall` checks, each up to an interval late and as long as its waits
    (one connect per port, or curl's limit), then the peer's takeover within an advert."""
    config = files.instance_config(instance)
    check = block(config, f"vrrp_script {instance.name}-check")
    interval, fall = (int(_value(check, key)) for key in ("interval", "fall"))
    advert = int(_value(block(config, f"vrrp_instance {instance.name}"), "advert_int"))
    assert waits in files.check_script(instance)
    per_check = int(waits.split()[1]) * max(1, len(instance.check_ports))
    assert instance.failover_bound_seconds == fall * (interval + per_check) + advert
    assert int(_value(check, "timeout")) > per_check


def test_instance_without_check_ports_tracks_nothing() -> None:
    text = files.instance_config(API)
    assert "vrrp_script" not in text and "track_script" not in text
    assert block(text, "unicast_peer") == ["192.0.2.11", "192.0.2.13"]
    with pytest.raises(ValueError):
        files.check_script(API)


def test_the_password_is_never_in_the_rendered_files() -> None:
    text = files.instance_config(GATEWAY)
    assert text.count(files.AUTH_PLACEHOLDER) == 1
    # The node step swaps the placeholder for the password; nothing else may look like one.
    assert not re.search(r"auth_pass (?!" + re.escape(files.AUTH_PLACEHOLDER) + ")", text)


def test_main_config_includes_the_instances_and_marks_itself() -> None:
    text = files.main_config()
    assert text.splitlines()[0] == files.MANAGED_MARK  # the step compares the whole line
    assert f"include {files.CONFIG_DIR}/*.conf" in text
    assert {"enable_script_security", "script_user root"} <= set(block(text, "global_defs"))
    assert "include /stage/*.conf" in files.main_config("/stage")


def test_each_file_has_its_own_path() -> None:
    paths = {GATEWAY.path, GATEWAY.check_path, GATEWAY.armed_path, API.path, files.MAIN_PATH}
    assert len(paths) == 5
    assert GATEWAY.path.startswith(files.CONFIG_DIR + "/") and GATEWAY.path.endswith(".conf")
    # The check script must not match the include pattern.
    assert not GATEWAY.check_path.endswith(".conf")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"router_id": 0}, "virtual router id 0"),
        ({"router_id": 256}, "virtual router id 256"),
        ({"priority": 255}, "priority 255"),
        ({"peers": ()}, "peers"),
        ({"peers": (IPv4Address("192.0.2.11"),)}, "peers"),
        ({"name": "Gateway VIP"}, "instance name"),
        ({"interface": "eth0; rm"}, "interface"),
        ({"check_ports": (0,)}, "check ports"),
    ],
)
def test_impossible_instances_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(GATEWAY, **change)


# --- the check script, run by bash as keepalived would ---------------------------------------


@contextmanager
def listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check(tmp_path: Path, *ports: int) -> int:
    """The check's exit status for `ports`, with its armed marker in `tmp_path`."""
    instance = replace(GATEWAY, check_ports=ports)
    text = files.check_script(instance)
    assert instance.armed_path in text
    script = tmp_path / "check.sh"
    script.write_text(text.replace(instance.armed_path, str(tmp_path / "armed")))
    return subprocess.run(["bash", str(script)], capture_output=True, timeout=10).returncode


def test_check_passes_until_the_gateway_has_answered_then_follows_it(tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    # Phase 1: nothing has ever answered here, so the node may hold the VIP.
    assert check(tmp_path, free_port()) == 0 and not armed.exists()
    with listening() as port:
        # The gateway answers: the check passes and arms itself.
        assert check(tmp_path, port) == 0 and armed.exists()
    # Phase 2: the gateway stopped answering, so the check fails (FAULT, the VIP moves).
    assert check(tmp_path, port) == 1
    with listening() as port:
        assert check(tmp_path, port) == 0


def test_check_needs_every_port(tmp_path: Path) -> None:
    (tmp_path / "armed").touch()
    with listening() as port:
        assert check(tmp_path, port) == 0
        assert check(tmp_path, port, free_port()) == 1


# --- the steps ----------------------------------------------------------------------------------


def create(dev: Deployment, name: str) -> str:
    return str(unwrap(dev.named(name).inputs["create"]))


def test_each_gateway_node_gets_its_priority_and_peer(dev: Deployment) -> None:
    first, second = create(dev, "gateway-keepalived-rbd-1"), create(dev, "gateway-keepalived-rbd-2")
    assert "priority 100" in first and "priority 50" in second
    assert "unicast_src_ip 192.0.2.11" in first and "unicast_src_ip 192.0.2.12" in second
    assert "priority 100" not in second and "priority 50" not in first
    for text in (first, second):
        assert "virtual_router_id 51" in text and "192.0.2.10/24 dev eth0" in text
        assert "for port in 80 443;" in text  # the default check: rbd-gateway's HTTP(S) ports


def test_the_password_reaches_the_step_on_stdin_only(dev: Deployment) -> None:
    password = fake_password("gateway-keepalived-auth", 8)
    step = dev.named("gateway-keepalived-rbd-1")
    assert unwrap(step.inputs["stdin"]) == password
    assert password not in create(dev, "gateway-keepalived-rbd-1")
    assert password not in str(unwrap(step.inputs["delete"]))


def test_check_ports_come_from_the_config(dev_config: dict[str, Any]) -> None:
    def ports(config: dict[str, Any]) -> None:
        config["gateway"]["checkPorts"] = [8080]

    deployment = deploy(edited(dev_config, ports))
    assert "for port in 8080;" in create(deployment, "gateway-keepalived-rbd-1")
