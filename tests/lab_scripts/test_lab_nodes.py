"""The local lab itself: nodes, identity, SSH pinning, isolation, the apt proxy, down and up.

Needs root and a running lab (`lab/lab up`); skipped otherwise. The last tests take the lab down
and up again (about 10 s warm), so they run only when asked: LAB_TEST_LIFECYCLE=1.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from lab import labctl

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab tier needs root"),
    pytest.mark.skipif(
        labctl.lab_up_reason() is not None,
        reason=str(labctl.lab_up_reason()) + " (make lab-up)",
    ),
]


def ssh(node: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    labctl.require_lab_up()
    return subprocess.run(
        labctl.ssh_argv(node, command), capture_output=True, text=True, timeout=timeout
    )


def out(node: str, command: str, timeout: float = 60) -> str:
    p = ssh(node, command, timeout)
    assert p.returncode == 0, f"{node}: {command!r} failed ({p.returncode}): {p.stderr}"
    return p.stdout.strip()


@pytest.fixture(scope="module")
def nodes() -> list[str]:
    names = [n for n in labctl.node_names() if labctl.node_pid(n)]
    if len(names) < 2:
        pytest.skip("fewer than two lab nodes are running (make lab-up)")
    return names


def test_known_hosts_pins_every_node(nodes: list[str]) -> None:
    lines = labctl.KNOWN_HOSTS.read_text().splitlines()
    pinned = {line.split()[0]: line.split()[1] for line in lines}
    for name in nodes:
        assert pinned.get(f"{name},{labctl.node_address(name)}") == "ssh-ed25519"
    keys = [line.split()[2] for line in lines]
    assert len(set(keys)) == len(keys), "host keys must be unique per node"


def test_nodes_answer_over_ssh_with_the_lab_key(nodes: list[str]) -> None:
    for name in nodes:
        assert out(name, "hostname") == name
        assert out(name, "id -u") == "0"


def test_unpinned_host_key_is_refused(nodes: list[str]) -> None:
    labctl.require_lab_up()
    with tempfile.NamedTemporaryFile() as empty:
        argv = labctl.ssh_argv(nodes[0], "true")
        argv[argv.index(f"UserKnownHostsFile={labctl.KNOWN_HOSTS}")] = (
            f"UserKnownHostsFile={empty.name}"
        )
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "Host key verification failed" in p.stderr


def test_lab_ssh_wrapper(nodes: list[str]) -> None:
    p = subprocess.run(
        [str(ROOT / "lab" / "ssh"), nodes[-1], "cat", "/etc/hostname"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == nodes[-1]


def test_hostnames_and_machine_ids_are_unique(nodes: list[str]) -> None:
    hostnames = {out(n, "hostname") for n in nodes}
    machine_ids = {out(n, "cat /etc/machine-id") for n in nodes}
    assert len(hostnames) == len(nodes)
    assert len(machine_ids) == len(nodes)
    assert all(len(m) == 32 for m in machine_ids)


def test_nodes_boot_with_systemd(nodes: list[str]) -> None:
    for name in nodes:
        assert out(name, "ps -p 1 -o comm=") == "systemd"
        state = ssh(name, "systemctl is-system-running --wait").stdout.strip()
        assert state in ("running", "degraded"), f"{name}: systemd is {state}"


def test_nodes_reach_each_other_and_the_host(nodes: list[str]) -> None:
    first, other = nodes[0], nodes[1]
    out(first, f"ping -c1 -W2 {labctl.node_address(other)}")
    out(first, f"ping -c1 -W2 {other}")  # lab names are in /etc/hosts
    out(first, f"ping -c1 -W2 {labctl.HOST_ADDR}")


def test_nodes_have_no_route_out_of_the_lab(nodes: list[str]) -> None:
    for name in nodes:
        # The default route leads to an address nothing holds: what takes it goes nowhere.
        assert out(name, "ip -4 route show default") == f"default via {labctl.DEAD_END} dev host0"
        assert out(name, "ip -6 route show default") == ""
        routes = out(name, "ip -4 route show").splitlines()
        assert all(r.startswith((f"{labctl.SUBNET} ", "default ")) for r in routes), routes
        p = ssh(name, "ping -c1 -W2 198.51.100.1")
        assert p.returncode != 0, p.stdout
        # Nothing answered for the gateway: no link-layer address was ever learnt for it.
        assert "lladdr" not in out(name, f"ip neigh show {labctl.DEAD_END}")
    # ... and the host would not forward for them if something answered there.
    assert Path(f"/proc/sys/net/ipv4/conf/{labctl.BRIDGE}/forwarding").read_text().strip() == "0"


def test_node_name_lookups_fail_at_once(nodes: list[str]) -> None:
    t0 = time.monotonic()
    p = ssh(nodes[0], "getent hosts example.com")
    assert p.returncode != 0 and time.monotonic() - t0 < 5


def test_node_can_do_network_admin_for_keepalived(nodes: list[str]) -> None:
    """keepalived adds the VIP itself: that needs CAP_NET_ADMIN inside the node."""
    name = nodes[-1]
    probe = f"{labctl.address(9)}/32"  # below the VIP, never given to a node
    try:
        out(name, f"ip addr add {probe} dev host0 && ip -o addr show dev host0")
    finally:
        ssh(name, f"ip addr del {probe} dev host0")


def test_node_installs_a_package_through_the_proxy(nodes: list[str]) -> None:
    name = nodes[-1]
    proxy = out(name, "apt-config dump Acquire::http::Proxy")
    assert f"http://{labctl.HOST_ADDR}:{labctl.PROXY_PORT}" in proxy
    try:
        out(
            name,
            "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q hello",
            timeout=600,
        )
        assert out(name, "hello").startswith("Hello, world!")
    finally:
        ssh(name, "DEBIAN_FRONTEND=noninteractive apt-get purge -y -q hello", timeout=300)


def test_proxy_serves_only_the_debian_archive(nodes: list[str]) -> None:
    curl = f"curl -s -o /dev/null -w '%{{http_code}}' -m 10 -x http://{labctl.HOST_ADDR}:3142"
    assert out(nodes[0], f"{curl} http://unlisted.invalid/file.txt") == "403"


lifecycle = pytest.mark.skipif(
    os.environ.get("LAB_TEST_LIFECYCLE") != "1",
    reason="takes the lab down and up again; set LAB_TEST_LIFECYCLE=1",
)


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(labctl.COMMAND), *args], capture_output=True, text=True, timeout=900)


@lifecycle
def test_lifecycle_down_leaves_nothing_and_up_restores() -> None:
    nodes = labctl.node_names()
    assert nodes

    p = lab("down")
    assert p.returncode == 0, p.stdout + p.stderr

    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "rbdlab" not in netns
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert "rbdlab" not in links
    mounts = Path("/proc/self/mountinfo").read_text()
    assert "rbdlab" not in mounts and str(labctl.WORK) not in mounts
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [line for line in procs.splitlines() if str(labctl.WORK) in line]
    assert labctl.leftovers() == []

    # The guard now refuses, in Python and in the shell command.
    with pytest.raises(labctl.LabNotUp, match="lab is not up"):
        labctl.require_lab_up()
    p = lab("check")
    assert p.returncode == 1 and "lab is not up" in p.stderr
    p = subprocess.run(
        [str(ROOT / "lab" / "ssh"), nodes[0], "true"], capture_output=True, text=True
    )
    assert p.returncode != 0 and "lab is not up" in p.stderr

    # Down twice is fine.
    assert lab("down").returncode == 0

    p = lab("up", "--nodes", str(len(nodes)))
    assert p.returncode == 0, p.stdout + p.stderr
    assert labctl.node_names() == nodes
    labctl.require_lab_up()
    for name in nodes:
        p = subprocess.run(labctl.ssh_argv(name, "hostname"), capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.strip() == name


@lifecycle
def test_lifecycle_up_repairs_a_stopped_node_and_a_lost_link() -> None:
    nodes = labctl.node_names()
    victim, cut = nodes[0], nodes[-1]
    pid = labctl.node_pid(victim)
    assert pid
    labctl.stop_node(victim)
    subprocess.run(["ip", "link", "del", labctl.host_veth(cut)], check=True)

    p = lab("up", "--nodes", str(len(nodes)))
    assert p.returncode == 0, p.stdout + p.stderr
    for name in (victim, cut):
        p = subprocess.run(labctl.ssh_argv(name, "hostname"), capture_output=True, text=True)
        assert p.returncode == 0 and p.stdout.strip() == name
