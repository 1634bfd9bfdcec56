"""Preflight: what each node must offer, the verdict on its facts, how a failure stops deploys."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from components.preflight import checks
from components.preflight.component import CHECK
from components.shared.remote import render
from config import ClusterSpec
from config.model import PreflightCheck
from tests.unit import conftest
from tests.unit.conftest import Deployment, deploy, edited, fake_preflight_facts, unwrap
from tests.unit.edits import put

EPOCH = int(conftest.FAKE_EPOCH)
DEV_NODES = ("rbd-1", "rbd-2", "rbd-3")


@pytest.fixture
def spec(dev_config: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate(dev_config)


def healthy() -> dict[str, str]:
    return {node: fake_preflight_facts(node) for node in DEV_NODES}


def verdict(
    spec: ClusterSpec, facts: dict[str, str], skew: dict[str, int] | None = None
) -> dict[tuple[str, str], tuple[str, str]]:
    epochs = {node: EPOCH - (skew or {}).get(node, 0) for node in facts}
    found = checks.evaluate(
        spec, {node: checks.parse_facts(text) for node, text in facts.items()}, epochs
    )
    return {(f.node, f.check.value): (f.level.value, f.detail) for f in found}


def problems(result: dict[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {key: level for key, (level, _) in result.items() if level in ("error", "warning")}


def with_fact(text: str, name: str, value: str) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(f"{name}\t")]
    return "\n".join([*lines, f"{name}\t{value}"])


def test_healthy_nodes_pass_every_check(spec: ClusterSpec) -> None:
    result = verdict(spec, healthy())
    assert problems(result) == {}
    # Gateway and database ports on rbd-1 (gateway, mysql source, master), none skipped.
    assert {check for node, check in result if node == "rbd-1"} == {c.value for c in PreflightCheck}


def test_plan_ports_by_role(spec: ClusterSpec) -> None:
    plans = checks.plan(spec)
    assert list(plans["rbd-1"].ports) == sorted(
        [*checks.GATEWAY_PORTS, 3306, *checks.RKE2_SERVER_PORTS]
    )
    # rbd-3: master and the managed registry, no gateway, no database.
    assert list(plans["rbd-3"].ports) == sorted([5000, 5080, *checks.RKE2_SERVER_PORTS])
    assert plans["rbd-1"].disk_paths == ("/opt/rainbond", "/var/lib/rancher")
    assert plans["rbd-1"].vrrp and plans["rbd-3"].vrrp  # gateway pair; masters hold the API VIP


def test_existing_cluster_ports_are_its_own(dev_config: dict[str, Any], home: Any) -> None:
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(conftest.FAKE_KUBECONFIG)
    config = edited(
        dev_config, put("kubernetes", {"mode": "existing", "kubeconfigPath": str(kubeconfig)})
    )
    plans = checks.plan(ClusterSpec.model_validate(config))
    assert 6443 not in plans["rbd-1"].ports and plans["rbd-1"].disk_paths == ("/opt/rainbond",)


def test_a_foreign_listener_is_an_error_and_our_own_service_is_not(spec: ClusterSpec) -> None:
    facts = healthy()
    facts["rbd-1"] += (
        '\nlistener\tLISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("python3",pid=4242,fd=3))'
        '\nlistener\tLISTEN 0 80 0.0.0.0:3306 0.0.0.0:* users:(("mariadbd",pid=17,fd=20))'
        '\nlistener\tLISTEN 0 511 [::]:443 [::]:* users:(("openresty",pid=9,fd=7))'
    )
    result = verdict(spec, facts)
    assert problems(result) == {("rbd-1", "ports"): "error"}
    assert result["rbd-1", "ports"][1] == "port 80 is held by python3 (pid 4242)"
    # rbd-2 holds 3306 with mariadbd: the replica this program installed there.
    facts = healthy()
    facts["rbd-2"] += '\nlistener\tLISTEN 0 80 *:3306 *:* users:(("mariadbd",pid=17,fd=20))'
    result = verdict(spec, facts)
    assert result["rbd-2", "ports"][0] == "ok"
    assert "3306 held by mariadbd (deployed here)" in result["rbd-2", "ports"][1]


def test_an_ingress_controller_on_a_gateway_port_is_an_error_only_on_gateway_nodes(
    spec: ClusterSpec,
) -> None:
    # What RKE2's rke2-ingress-nginx (hostPort 80/443) would look like if it were left enabled.
    nginx = '\nlistener\tLISTEN 0 511 0.0.0.0:443 0.0.0.0:* users:(("nginx",pid=31,fd=6))'
    facts = healthy()
    facts["rbd-2"] += nginx
    facts["rbd-3"] += nginx  # a master and the registry node, not a gateway node
    result = verdict(spec, facts)
    assert problems(result) == {("rbd-2", "ports"): "error"}
    assert result["rbd-2", "ports"][1] == "port 443 is held by nginx (pid 31)"
    assert {80, 443} <= set(checks.plan(spec)["rbd-2"].ports)


def test_duplicate_machine_id_and_hostname_name_both_nodes(spec: ClusterSpec) -> None:
    facts = healthy()
    twin = checks.parse_facts(facts["rbd-2"]).get("machine_id")
    facts["rbd-1"] = with_fact(facts["rbd-1"], "machine_id", twin)
    facts["rbd-3"] = with_fact(facts["rbd-3"], "hostname", "rbd-2")
    result = verdict(spec, facts)
    assert problems(result) == {
        ("rbd-1", "machine-id"): "error",
        ("rbd-2", "machine-id"): "error",
        ("rbd-2", "unique-hostname"): "error",
        ("rbd-3", "unique-hostname"): "error",
        ("rbd-3", "hostname"): "error",
    }
    assert result["rbd-1", "machine-id"][1] == f"machine-id {twin} is also rbd-2's"
    assert result["rbd-3", "hostname"][1].startswith(
        "hostname is 'rbd-2', not the node name 'rbd-3'"
    )


@pytest.mark.parametrize(
    ("fact", "value", "check", "level"),
    [
        ("sudo", "no", "sudo", "error"),
        ("os_id", "centos", "os", "error"),
        ("os_version_id", "14", "os", "warning"),
        ("arch", "riscv64", "arch", "error"),
        ("kernel", "4.15.0-20-generic", "kernel", "error"),
        ("swap_kib", str(2 << 20), "swap", "warning"),
        ("mem_kib", str(4 << 20), "memory", "error"),
        ("machine_id", "", "machine-id", "error"),
    ],
)
def test_node_facts(spec: ClusterSpec, fact: str, value: str, check: str, level: str) -> None:
    facts = healthy()
    facts["rbd-2"] = with_fact(facts["rbd-2"], fact, value)
    assert problems(verdict(spec, facts)) == {("rbd-2", check): level}


def on_release(facts: dict[str, str], os_id: str, version: str) -> dict[str, str]:
    name = f"{os_id} {version}"
    return {
        node: with_fact(
            with_fact(with_fact(text, "os_id", os_id), "os_version_id", version), "os_name", name
        )
        for node, text in facts.items()
    }


@pytest.mark.parametrize(("os_id", "version"), [("debian", "13"), ("ubuntu", "24.04")])
def test_supported_releases_pass(spec: ClusterSpec, os_id: str, version: str) -> None:
    assert problems(verdict(spec, on_release(healthy(), os_id, version))) == {}


def test_a_release_too_old_for_what_a_node_runs_is_an_error_naming_the_package(
    spec: ClusterSpec,
) -> None:
    # Every dev node runs keepalived (the gateway pair or the API VIP); rbd-1 and rbd-2 MariaDB.
    result = verdict(spec, on_release(healthy(), "debian", "11"))
    assert problems(result) == {(node, "os"): "error" for node in DEV_NODES}
    assert result["rbd-1", "os"][1] == (
        "debian 11 ships keepalived 2.1.5 (the VRRP config needs 2.2.7+) and MariaDB 10.5"
        " (the database config needs 10.6+); supported: debian 12, debian 13, ubuntu 22.04,"
        " ubuntu 24.04"
    )
    assert "MariaDB" not in result["rbd-3", "os"][1]


def test_ubuntu_2204_serves_every_role_but_keepalived(
    dev_config: dict[str, Any], home: Any
) -> None:
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(conftest.FAKE_KUBECONFIG)
    config = edited(
        dev_config, put("kubernetes", {"mode": "existing", "kubeconfigPath": str(kubeconfig)})
    )
    result = verdict(ClusterSpec.model_validate(config), on_release(healthy(), "ubuntu", "22.04"))
    # rbd-3 holds no VIP once the cluster is not RKE2's: MariaDB 10.6 is new enough for rbd-1/2.
    assert problems(result) == {("rbd-1", "os"): "error", ("rbd-2", "os"): "error"}
    assert result["rbd-1", "os"][1].startswith("ubuntu 22.04 ships keepalived 2.2.4 (")
    assert problems(
        verdict(ClusterSpec.model_validate(config), on_release(healthy(), "debian", "11"))
    ) == {(n, "os"): "error" for n in ("rbd-1", "rbd-2")} | {("rbd-3", "os"): "warning"}


def test_disk_measured_where_the_directory_will_be(spec: ClusterSpec) -> None:
    facts = healthy()
    facts["rbd-3"] += f"\ndisk\t/opt/rainbond\t/opt\t{10 << 20}"
    level, detail = verdict(spec, facts)["rbd-3", "disk"]
    assert (level, detail) == ("error", "/opt/rainbond (on /opt) has 10 GiB free, 40 GiB needed")


def test_clock_skew_limit(spec: ClusterSpec) -> None:
    assert problems(verdict(spec, healthy(), {"rbd-1": 30})) == {}
    result = verdict(spec, healthy(), {"rbd-1": -31})
    assert problems(result) == {("rbd-1", "clock"): "error"}
    assert result["rbd-1", "clock"][1].startswith("31 s behind the machine running pulumi")


@pytest.mark.parametrize(
    ("rules", "level"),
    [
        (["nft\tip protocol vrrp drop"], "error"),
        (["iptables\t-A INPUT -p vrrp -j DROP"], "error"),
        (["iptables\t-A INPUT -s 10.0.0.0/8 -p 112 -j REJECT"], "error"),
        (["nft\ttype filter hook input priority filter; policy drop;"], "warning"),
        (["iptables\t:INPUT DROP [0:0]"], "warning"),
        (["iptables\t:INPUT DROP [0:0]", "iptables\t-A INPUT -p vrrp -j ACCEPT"], "ok"),
        (["nft\ttype filter hook input priority filter; policy accept;"], "ok"),
    ],
)
def test_vrrp_firewall(spec: ClusterSpec, rules: list[str], level: str) -> None:
    facts = healthy()
    facts["rbd-1"] = with_fact(facts["rbd-1"], "firewall_tools", "yes")
    facts["rbd-1"] += "".join(f"\nfirewall\t{rule}" for rule in rules)
    assert verdict(spec, facts)["rbd-1", "vrrp"][0] == level


def test_skip_turns_an_error_into_skipped(dev_config: dict[str, Any]) -> None:
    spec = ClusterSpec.model_validate(edited(dev_config, put("preflight.skip", ["swap", "ports"])))
    facts = healthy()
    facts["rbd-1"] += '\nlistener\tLISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=1,fd=3))'
    facts["rbd-1"] = with_fact(facts["rbd-1"], "swap_kib", "1048576")
    result = verdict(spec, facts)
    assert problems(result) == {}
    assert result["rbd-1", "ports"] == ("skipped", "preflight.skip")


def test_unknown_check_name_is_a_config_error(dev_config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"preflight\.skip"):
        ClusterSpec.model_validate(edited(dev_config, put("preflight.skip", ["swapp"])))


def test_failure_lists_every_error_by_node_and_how_to_check_again(spec: ClusterSpec) -> None:
    facts = healthy()
    facts["rbd-1"] = with_fact(facts["rbd-1"], "kernel", "3.10.0")
    facts["rbd-1"] += '\nlistener\tLISTEN 0 5 0.0.0.0:8443 0.0.0.0:* users:(("java",pid=5,fd=3))'
    facts["rbd-3"] = with_fact(facts["rbd-3"], "sudo", "no")
    found = checks.evaluate(
        spec,
        {node: checks.parse_facts(text) for node, text in facts.items()},
        dict.fromkeys(facts, EPOCH),
    )
    message = checks.failure(found, {node: f"urn:{node}" for node in facts})
    assert message.splitlines()[:6] == [
        "preflight failed: 3 error(s) on 2 node(s)",
        "rbd-1:",
        "  kernel: kernel 3.10.0 is older than 4.18",
        "  ports: port 8443 is held by java (pid 5)",
        "rbd-3:",
        "  sudo: SSH user root is not root and `sudo -n` asks for a password;"
        " allow it passwordless sudo or log in as root",
    ]
    assert "pulumi up --replace 'urn:rbd-1' --replace 'urn:rbd-3'" in message


def test_table_has_a_row_per_check() -> None:
    found = [
        checks.Finding("node1", PreflightCheck.SWAP, checks.Level.WARNING, "1024 MiB of swap"),
        checks.Finding("node1", PreflightCheck.OS, checks.Level.OK, "Debian 12"),
    ]
    assert checks.table(found).splitlines() == [
        "NODE   CHECK  RESULT   DETAIL",
        "node1  swap   warning  1024 MiB of swap",
        "node1  os     ok       Debian 12",
    ]


def test_check_script_reports_facts_the_parser_reads() -> None:
    """The real script on this machine: read-only, so it is safe to run anywhere."""
    command = render(
        CHECK.text,
        {"NODE_NAME": "here", "DISK_PATHS": "/opt/rainbond/cache /", "PORTS": "1"},
    )
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True)
    facts = checks.parse_facts(out.stdout)
    assert facts.get("hostname") and facts.get("kernel") and facts.number("epoch") > EPOCH
    assert set(facts.disks) == {"/opt/rainbond/cache", "/"}
    assert facts.listeners == []  # nothing listens on port 1


# The component in the program, on mocks.


def test_results_are_a_stack_output(dev: Deployment) -> None:
    output = dev.outputs["preflight"]
    assert not output.secret
    assert set(output.value) == set(DEV_NODES)
    assert output.value["rbd-1"]["ports"]["result"] == "ok"


def test_every_node_changing_step_waits_for_the_verdict(dev: Deployment) -> None:
    passed = dev.named("preflight-passed")
    assert unwrap(passed.inputs["create"]).startswith("echo 'preflight passed on 3 node(s)")
    for step in dev.of_type("command:remote:Command"):
        if not step.name.startswith("preflight-"):
            assert passed.urn in step.dependencies, step.name


def test_a_failing_check_fails_the_program_naming_every_node(
    dev_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad(node: str) -> str:
        return with_fact(fake_preflight_facts(node), "hostname", "x")

    monkeypatch.setattr(conftest, "fake_preflight_facts", bad)
    with pytest.raises(Exception, match="preflight failed") as failed:
        deploy(dev_config)
    message = str(failed.value)
    for node in DEV_NODES:
        assert f"hostname is 'x', not the node name '{node}'" in message
