"""RKE2 on day 2, as far as it can be shown without RKE2: what `pulumi up` would do to each step
(tests/unit/plan.py), what the scripts render, and what `config check` refuses."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kubernetes.kubeconfig import RENEWAL_DAYS, renewal_period
from components.kubernetes.rke2 import RKE2
from tests.unit.conftest import (
    Deployment,
    assert_in_order,
    depends_on,
    deploy,
    edited,
    is_secret,
    unwrap,
)
from tests.unit.edits import added_node, findings, put
from tests.unit.plan import COMMAND, plan
from tests.unit.test_kubernetes import rendered_params

MASTERS = ["rbd-1", "rbd-2", "rbd-3", "rbd-4", "rbd-5"]


def _five_masters(config: dict[str, Any]) -> None:
    for index, name in enumerate(MASTERS[3:], start=14):
        config["nodes"].append(added_node(name, index, "master"))
    config["nodes"].append(added_node("rbd-6", 16, "worker"))
    config["nodes"].append(added_node("rbd-7", 17, "worker"))


@pytest.fixture
def five(dev_config: dict[str, Any]) -> dict[str, Any]:
    return edited(dev_config, _five_masters)


@pytest.fixture
def five_deployed(five: dict[str, Any]) -> Deployment:
    return deploy(five)


def rke2_steps(changes: Mapping[str, str]) -> dict[str, str]:
    return {
        name: what
        for name, what in changes.items()
        if name.startswith(("kubernetes-server-", "kubernetes-agent-"))
    }


def test_a_version_bump_updates_servers_then_agents_in_place(
    five: dict[str, Any], five_deployed: Deployment
) -> None:
    after = deploy(edited(five, put("kubernetes.version", "v1.31.1+rke2r1")))
    changes = plan(five_deployed, after, COMMAND)
    assert set(rke2_steps(changes).values()) == {"update"}, changes
    assert len(rke2_steps(changes)) == 7
    # Nothing else moves: the API VIP, the gateway, the registry, the database.
    others = {name: what for name, what in changes.items() if name not in rke2_steps(changes)}
    assert set(others.values()) == {"same"}, others
    # A serial chain: each server after the previous one, then each agent after the last step.
    chain = [f"kubernetes-server-{name}" for name in MASTERS] + [
        "kubernetes-agent-rbd-6",
        "kubernetes-agent-rbd-7",
    ]
    for previous, step in itertools.pairwise(chain):
        assert depends_on(after, after.named(step), previous), step
    params = rendered_params(after.named("kubernetes-server-rbd-3"))
    assert params["VERSION"] == "v1.31.1+rke2r1"


def test_the_version_is_installed_over_the_old_one_and_gated_on_etcd_health(
    five_deployed: Deployment,
) -> None:
    create = str(unwrap(five_deployed.named("kubernetes-server-rbd-2").inputs["create"]))
    assert "installing ${VERSION} over" in create
    assert "rke2-uninstall.sh" not in create
    gates = create.index('wait_for "local /readyz"'), create.index("every etcd member healthy")
    assert gates[0] < gates[1]
    assert "endpoint health --cluster" in create
    # Restart only when something RKE2 reads at start changed.
    assert 'if [ "${#restart_for[@]}" -gt 0 ]' in create


def test_only_a_leaving_node_runs_the_uninstall(five_deployed: Deployment) -> None:
    for step in five_deployed.of_type(COMMAND):
        assert "rke2-uninstall.sh" not in str(unwrap(step.inputs["create"])), step.name
    for name in ("kubernetes-server-rbd-4", "kubernetes-agent-rbd-6"):
        assert "rke2-uninstall.sh" in str(unwrap(five_deployed.named(name).inputs["delete"]))


def test_removing_a_server_leaves_the_cluster_before_its_uninstall(
    five: dict[str, Any], five_deployed: Deployment
) -> None:
    four_gone = edited(five, lambda config: config["nodes"].pop(4))
    three_left = edited(four_gone, lambda config: config["nodes"].pop(3))
    changes = plan(five_deployed, deploy(three_left), COMMAND)
    assert changes["kubernetes-server-rbd-4"] == changes["kubernetes-server-rbd-5"] == "delete"
    # Servers that stay are updated in place (their peer list), never replaced.
    assert {changes[f"kubernetes-server-{name}"] for name in MASTERS[:3]} == {"update"}
    delete = str(unwrap(five_deployed.named("kubernetes-server-rbd-5").inputs["delete"]))
    params = rendered_params(five_deployed.named("kubernetes-server-rbd-5"))
    assert params["PEERS"] == "192.0.2.11 192.0.2.12 192.0.2.13 192.0.2.14"
    assert_in_order(
        delete,
        "kube cordon",
        'drain_node "${NODE_NAME}"',
        "etcd.k3s.cattle.io/remove=true",
        r"etcd\.k3s\.cattle\.io/removed-node-name",
        'kube delete node "${NODE_NAME}"',
        '"${uninstall}"',
    )


def test_the_first_server_joins_like_the_others_once_the_cluster_exists(
    dev: Deployment,
) -> None:
    first = rendered_params(dev.named("kubernetes-server-rbd-1"))
    assert yaml.safe_load(first["CONFIG"])["server"] == "https://192.0.2.20:9345"
    create = str(unwrap(dev.named("kubernetes-server-rbd-1").inputs["create"]))
    # It starts without `server:` only with no etcd data and nobody answering anywhere.
    decision = create[
        create.index("initialise=no\nif") : create.index('if [ "${initialise}" = yes ]')
    ]
    assert '"${BOOTSTRAP}" = 1' in decision and '! -d "${etcd_wal}"' in decision
    assert "nobody_serves" in decision


def test_removing_the_first_server_moves_the_bootstrap_role_without_a_replace(
    five: dict[str, Any], five_deployed: Deployment
) -> None:
    def swap(config: dict[str, Any]) -> None:
        config["nodes"][0]["roles"] = ["gateway", "build", "mysql"]
        config["nodes"][5]["roles"] = ["master"]

    after = deploy(edited(five, swap))
    changes = plan(five_deployed, after, COMMAND)
    assert changes["kubernetes-server-rbd-1"] == "delete"
    assert changes["kubernetes-server-rbd-6"] == "create"
    assert "replace" not in changes.values()
    assert rendered_params(after.named("kubernetes-server-rbd-2"))["BOOTSTRAP"] == "1"


def test_a_trust_change_reloads_rke2_rolling(dev_config: dict[str, Any], dev: Deployment) -> None:
    after = deploy(edited(dev_config, put("registry.port", 5443)))
    changes = plan(dev, after, COMMAND)
    assert {changes[f"kubernetes-server-rbd-{i}"] for i in (1, 2, 3)} == {"update"}
    digests = {
        rendered_params(deployment.named("kubernetes-server-rbd-2"))["TRUST_DIGEST"]
        for deployment in (dev, after)
    }
    assert len(digests) == 2 and "" not in digests
    create = str(unwrap(after.named("kubernetes-server-rbd-2").inputs["create"]))
    assert "restart_for+=(registries)" in create


@pytest.mark.parametrize(
    ("masters", "about_quorum"),
    [
        (0, "nodes: no node"),
        (1, "warning: nodes: 1 "),
        (2, "warning: nodes: 2 "),
        (3, None),
        (4, "warning: nodes: 4 "),
        (5, None),
    ],
)
def test_config_check_warns_of_server_counts_that_lose_fault_tolerance(
    dev_config: dict[str, Any], masters: int, about_quorum: str | None
) -> None:
    """Going from 3 servers to 2 (one left or died) still deploys, with a warning; none can't."""
    config = edited(dev_config, _five_masters)
    for index, node in enumerate(config["nodes"][:5]):
        if index >= masters:
            node["roles"] = [role for role in node["roles"] if role != "master"] or ["worker"]
    found = [f for f in findings(config) if "have the role master" in f or "role master;" in f]
    expected = [about_quorum] if about_quorum else []
    assert [f[: len(about_quorum or "")] for f in found] == expected


def test_renewal_period_changes_once_per_period() -> None:
    start = date(2026, 12, 2)
    period = renewal_period(start)
    assert date.fromisoformat(period) <= start
    days = [date.fromordinal(start.toordinal() + offset) for offset in range(RENEWAL_DAYS * 3)]
    periods = [renewal_period(day) for day in days]
    assert len(set(periods)) in (3, 4)
    changes = [i for i in range(1, len(periods)) if periods[i] != periods[i - 1]]
    assert all(b - a == RENEWAL_DAYS for a, b in itertools.pairwise(changes))
    with pytest.raises(ValueError):
        renewal_period(start, 0)


def test_the_credential_is_a_service_account_token_fetched_again_each_period(
    dev: Deployment,
) -> None:
    step = dev.named("kubernetes-kubeconfig")
    params = rendered_params(step)
    assert params["RENEWAL"] == renewal_period(date.today())
    assert params["ACCOUNT"] == "rainbond-ha"
    assert "kubernetes.io/service-account-token" in str(unwrap(step.inputs["create"]))


def test_a_renewed_credential_updates_the_provider_instead_of_replacing_it(
    dev: Deployment,
) -> None:
    (provider,) = dev.of_type("pulumi:providers:kubernetes")
    assert unwrap(provider.inputs["clusterIdentifier"]) == "rke2-kubernetes"


def _bootstrap_decision(tmp_path: Path, *, bootstrap: bool, data: bool, answers: bool) -> str:
    """Runs rke2.sh's own decision (from `config=` to the config.yaml write) with the node's
    facts stubbed: its etcd data, and whether anything answers on 9345. Returns config.yaml."""
    script = RKE2.path.read_text()
    start = script.index("config=${CONFIG%")
    end = script.index("\n", script.index('write "${etc}/config.yaml" 0600 "${config}"'))
    if data:
        (tmp_path / "wal").mkdir()
    stubs = f"""
set -euo pipefail
etc={tmp_path}; etcd_wal={tmp_path}/wal; restart_for=()
BOOTSTRAP={"1" if bootstrap else ""}; REGISTRATION=192.0.2.20; PEERS="192.0.2.12 192.0.2.13"
CONFIG=$'node-name: rbd-1\\nserver: https://192.0.2.20:9345\\ntls-san: [192.0.2.20]\\n'
anyone_serves() {{ {"true" if answers else "false"}; }}
sleep() {{ :; }}
log() {{ echo "$*"; }}
write() {{ printf '%s\\n' "$3" >"$1"; }}
"""
    common = (RKE2.folder / "common.sh").read_text()
    decision = common + stubs + script[start:end]
    subprocess.run(["bash", "-c", decision], check=True, capture_output=True)
    return (tmp_path / "config.yaml").read_text()


@pytest.mark.parametrize(
    ("bootstrap", "data", "answers", "initialises"),
    [
        (True, False, False, True),  # the stack's first deployment
        (True, True, False, False),  # a rerun or an upgrade: its own member restarts
        (True, False, True, False),  # the first server replaced: the others answer, it joins
        (False, False, False, False),  # any other server never initialises
    ],
)
def test_only_a_bootstrap_server_alone_and_empty_initialises(
    tmp_path: Path, bootstrap: bool, data: bool, answers: bool, initialises: bool
) -> None:
    config = yaml.safe_load(
        _bootstrap_decision(tmp_path, bootstrap=bootstrap, data=data, answers=answers)
    )
    assert ("server" not in config) is initialises
    assert config["tls-san"] == ["192.0.2.20"]


def test_a_leaving_agent_is_drained_from_the_first_server_before_its_uninstall(
    five: dict[str, Any], five_deployed: Deployment
) -> None:
    member = five_deployed.named("kubernetes-member-rbd-7")
    # The member step depends on the agent's, so the engine deletes it (the drain) first.
    assert depends_on(five_deployed, member, "kubernetes-agent-rbd-7")
    assert "192.0.2.11" in str(unwrap(member.inputs["connection"]))  # rbd-1, the first server
    delete = str(unwrap(member.inputs["delete"]))
    assert_in_order(
        delete, "kube cordon", 'drain_node "${NODE_NAME}"', 'kube delete node "${NODE_NAME}"'
    )
    changes = plan(five_deployed, deploy(edited(five, lambda c: c["nodes"].pop())), COMMAND)
    assert changes["kubernetes-member-rbd-7"] == changes["kubernetes-agent-rbd-7"] == "delete"
    assert changes["kubernetes-member-rbd-6"] == "same"


FAKE_KUBECTL = """#!/bin/bash
echo "$*" >>"$CALLS"
case "$*" in
  *"get nodes -l node-role.kubernetes.io/etcd=true"*) printf 'rbd-1\\nrbd-2\\nrbd-8\\nrbd-9\\n' ;;
  *"get node rbd-8"*Ready*) echo True ;;
  *"get node rbd-9"*Ready*) echo Unknown ;;
  *"get node rbd-9"*removed-node-name*) echo rbd-9-1a2b3c4d ;;
esac
"""


def test_a_dead_server_that_left_the_stack_is_taken_out_of_etcd(tmp_path: Path) -> None:
    """rke2.sh's own forget_dead_servers(), against a fake kubectl: rbd-9 left the stack and is
    not Ready (dead), rbd-8 left but still runs (its own delete drains it), rbd-1 and rbd-2 stay."""
    script = RKE2.path.read_text()
    start = script.index("forget_dead_servers() {")
    function = script[start : script.index("\n}\n", start) + 3]
    kubectl, calls = tmp_path / "kubectl", tmp_path / "calls"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    program = (
        f'kubectl=({kubectl}); SERVERS="rbd-1 rbd-2 rbd-3"; log() {{ :; }}; sleep() {{ :; }}\n'
        f"{function}forget_dead_servers\n"
    )
    subprocess.run(["bash", "-c", program], check=True, env={"CALLS": str(calls)}, timeout=20)
    changes = [line for line in calls.read_text().splitlines() if not line.startswith("get ")]
    assert changes == [
        "annotate node rbd-9 --overwrite etcd.k3s.cattle.io/remove=true",
        "delete node rbd-9",
    ]


def test_dead_servers_are_forgotten_before_etcd_health_is_judged(dev: Deployment) -> None:
    create = str(unwrap(dev.named("kubernetes-server-rbd-2").inputs["create"]))
    body = create[create.index('if [ "${ROLE}" = server ]; then\n  wait_for "local /readyz"') :]
    assert body.index("forget_dead_servers") < body.index("every etcd member healthy")
    assert rendered_params(dev.named("kubernetes-server-rbd-2"))["SERVERS"] == "rbd-1 rbd-2 rbd-3"


def test_rke2_never_starts_without_the_registry_trust(dev: Deployment) -> None:
    create = str(unwrap(dev.named("kubernetes-server-rbd-3").inputs["create"]))
    guard = create.index('if [ ! -f "${etc}/registries.yaml" ]; then')
    assert guard < create.index('systemctl restart "${unit}.service"')
    assert "registry-trust-${NODE_NAME}" in create[guard:]


def test_adding_a_server_updates_the_servers_and_leaves_the_agents(
    five: dict[str, Any], five_deployed: Deployment
) -> None:
    def two_more(config: dict[str, Any]) -> None:
        for index in (18, 19):
            config["nodes"].append(added_node(f"rbd-{index}", index, "master"))

    changes = plan(five_deployed, deploy(edited(five, two_more)), COMMAND)
    assert {changes[f"kubernetes-server-rbd-{i}"] for i in (18, 19)} == {"create"}
    assert {changes[f"kubernetes-server-{name}"] for name in MASTERS} == {"update"}
    assert {changes["kubernetes-agent-rbd-6"], changes["kubernetes-agent-rbd-7"]} == {"same"}
    assert "replace" not in changes.values()


def test_the_etcd_s3_secret_reaches_the_servers_on_stdin_only(dev_config: dict[str, Any]) -> None:
    s3 = {"bucket": "snapshots", "accessKey": "AKIAEXAMPLE", "secretKey": "Sup3rS3cretKey"}
    deployment = deploy(edited(dev_config, put("kubernetes.etcdSnapshots", {"s3": s3})))
    for name in ("kubernetes-server-rbd-1", "kubernetes-server-rbd-3"):
        step = deployment.named(name)
        assert "Sup3rS3cretKey" not in json.dumps(unwrap(step.inputs["create"]))
        assert "Sup3rS3cretKey" not in json.dumps(unwrap(step.inputs["delete"]))
        assert unwrap(step.inputs["stdin"]).splitlines()[1] == "etcd-s3-secret-key: Sup3rS3cretKey"
        assert is_secret(step.inputs["stdin"])
        config = yaml.safe_load(rendered_params(step)["CONFIG"])
        assert (config["etcd-s3-bucket"], config["etcd-s3-access-key"]) == (
            "snapshots",
            "AKIAEXAMPLE",
        )
