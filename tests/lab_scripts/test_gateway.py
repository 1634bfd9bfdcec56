"""keepalived's rendered files and node step against the real keepalived on a lab node.

The step runs on node1 alone (its peer node2 runs no keepalived), so node1 takes the VIP by
itself; the module ends with the delete step, which leaves node1 as it was. About 30 s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Interface

import pytest

from components.keepalived import files
from components.keepalived.vip import SCRIPT, node_params
from components.shared.remote import render
from lab.labctl import address, node_address, require_lab_up
from tests.lab_scripts.keepalived import GATEWAY, LEDGER, NODE, PASSWORD, on, step, text

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


@pytest.fixture(scope="module")
def deployed() -> Iterator[None]:
    require_lab_up()
    assert on(NODE, f"test ! -e {files.MAIN_PATH}").returncode == 0, "keepalived is configured"
    installed: list[str] = []
    try:
        result = step(GATEWAY)
        assert result.returncode == 0, result.stdout + result.stderr
        installed = text(f"cat {LEDGER}/keepalived || true").split()
        yield
    finally:
        removed = step(GATEWAY, "vip-delete")
        assert removed.returncode == 0, removed.stdout + removed.stderr
    # Whatever the step installed is gone again (other engineers' packages are not ours to check).
    still = on(NODE, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' " + " ".join(installed))
    assert not [line for line in still.stdout.splitlines() if line.startswith("ii")]
    for path in (files.MAIN_PATH, files.CONFIG_DIR, files.STATE_DIR):
        assert on(NODE, f"test ! -e {path}").returncode == 0, f"{path} left on {NODE}"


def holds_vip() -> bool:
    return f" {GATEWAY.vip.ip}/" in text("ip -4 -o addr show dev host0")


def test_the_step_installs_configures_and_holds_the_vip(deployed: None) -> None:
    assert text("systemctl is-active keepalived").strip() == "active"
    assert text("systemctl is-enabled keepalived").strip() == "enabled"
    assert holds_vip()
    assert text(f"stat -c '%a %U' {GATEWAY.path}").split() == ["600", "root"]
    assert f"auth_pass {PASSWORD}" in text(f"cat {GATEWAY.path}")
    # Nothing answers on 80/443 yet (no Rainbond): the check passes without arming itself.
    assert on(NODE, f"test -e {GATEWAY.armed_path}").returncode != 0


def test_a_second_run_changes_nothing(deployed: None) -> None:
    before = text(
        f"stat -c %Y {GATEWAY.path} {files.MAIN_PATH}; systemctl show -p MainPID keepalived"
    )
    result = step(GATEWAY)
    assert result.returncode == 0, result.stderr
    assert "unchanged" in result.stdout and "keepalived running" in result.stdout
    after = text(
        f"stat -c %Y {GATEWAY.path} {files.MAIN_PATH}; systemctl show -p MainPID keepalived"
    )
    assert after == before and holds_vip()


def test_keepalived_accepts_every_rendered_configuration(deployed: None) -> None:
    """Each node's files, and two instances sharing a node, as `keepalived -t` reads them."""
    peer_view = replace(GATEWAY, priority=50, source=GATEWAY.peers[0], peers=(GATEWAY.source,))
    api = replace(
        GATEWAY,
        name="rainbond-api",
        router_id=52,
        vip=IPv4Interface(address(20)),
        peers=tuple(IPv4Address(node_address(n)) for n in ("node2", "node3")),
        check_ports=(),
    )
    one_port = replace(GATEWAY, check_ports=(7070,))
    for instances in ([GATEWAY], [peer_view], [api], [one_port], [GATEWAY, api]):
        names = [instance.name for instance in instances]
        stage = text("mktemp -d").strip()
        writes = [(f"{stage}/main.cfg", files.main_config(stage))] + [
            (
                f"{stage}/{instance.name}.conf",
                files.instance_config(instance).replace(files.AUTH_PLACEHOLDER, PASSWORD),
            )
            for instance in instances
        ]
        test = "".join(f"cat > {path} <<'EOF'\n{body}EOF\n" for path, body in writes)
        test += f"keepalived -t -f {stage}/main.cfg || exit $?\n"
        # The same check fails on a damaged file, so the acceptance above means something.
        test += f"sed -i 's/nopreempt/nopreempted/' {writes[-1][0]}\n"
        test += f"! keepalived -t -f {stage}/main.cfg 2>/dev/null || exit 99\n"
        try:
            result = on(NODE, "umask 077; bash -s", test)
            assert result.returncode == 0, [*names, result.returncode, result.stderr]
        finally:
            on(NODE, f"rm -rf {stage}")


def test_a_refused_configuration_leaves_the_running_one(deployed: None) -> None:
    live = text(f"sha256sum {GATEWAY.path} {GATEWAY.check_path}")
    params = node_params(GATEWAY)
    params["INSTANCE_TEXT"] = params["INSTANCE_TEXT"].replace("nopreempt", "nopreempted")
    params["CHECK_TEXT"] += "# a changed check\n"
    result = on(NODE, render(SCRIPT.text, params), PASSWORD + "\n")
    assert result.returncode != 0
    assert "refused" in result.stderr and "nopreempted" in result.stderr
    assert text(f"sha256sum {GATEWAY.path} {GATEWAY.check_path}") == live
    assert text("systemctl is-active keepalived").strip() == "active" and holds_vip()
    assert "stage" not in text("ls -A /etc/keepalived")  # the candidate is gone too


def test_the_step_needs_the_password_on_stdin(deployed: None) -> None:
    for stdin in ("", "\n", "much-too-long-password\n"):
        result = step(GATEWAY, stdin=stdin)
        assert result.returncode != 0 and "VRRP password" in result.stderr


def test_someone_elses_keepalived_config_is_left_alone() -> None:
    """Where rainbond-ha did not write keepalived.conf, the step refuses and changes nothing."""
    require_lab_up()
    other = "node3"
    assert on(other, f"test ! -e {files.MAIN_PATH}").returncode == 0
    packages = "dpkg-query -W -f='${Package} ${Status}\\n' | sort"
    before = text(packages, other)
    foreign = "vrrp_instance theirs {\n}\n"
    had_dir = on(other, "test -d /etc/keepalived").returncode == 0
    on(other, f"mkdir -p /etc/keepalived && cat > {files.MAIN_PATH}", foreign)
    try:
        spec = replace(GATEWAY, source=IPv4Address(node_address(other)))
        result = step(spec, stdin=PASSWORD, node=other)
        assert result.returncode != 0 and "not written by rainbond-ha" in result.stderr
        assert text(f"cat {files.MAIN_PATH}", other) == foreign
        assert text(packages, other) == before
        assert on(other, f"test ! -e {files.STATE_DIR}").returncode == 0
    finally:
        on(other, f"rm -f {files.MAIN_PATH}" + ("" if had_dir else "; rmdir /etc/keepalived"))
