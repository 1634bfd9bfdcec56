"""The managed MariaDB pair on the lab (node1 source, node2 replica), from `pulumi up` to destroy.

In order: up while sampling every process's argv on both nodes; 1,000 rows replicate; the replica
refuses the Rainbond user's writes; both databases are utf8mb4; the host (outside the cluster's
addresses) is refused; the replica survives a kill during a write loop; a second up changes
nothing; a switchover through the config loses no committed row while a writer runs; destroy
removes service and config and keeps the data. Takes about 3-4 minutes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pulumi import automation as auto

from lab.labctl import HOST_ADDR, node_address, require_lab_up, ssh_argv
from tests.e2e.engine import exported_state
from tests.lab_stacks.audit import ProcessSampler
from tests.lab_stacks.database import (
    CONFIG_FILE,
    DATA_DIR,
    LOGIN,
    NODES,
    as_rainbond,
    count,
    lab_database,
    on,
    root_sql,
    wait_replicated,
    write_config,
)
from tests.lab_stacks.harness import component_stack

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def on_nodes(sampler: ProcessSampler) -> list[str]:
    """What the sampler saw on the database nodes: argv and environment of each process."""
    return [text for node in NODES for text in sampler.of(node)]


def secrets_of(stack: auto.Stack) -> list[str]:
    """Every generated password, read from the decrypted state."""
    exported = exported_state(stack, show_secrets=True)
    resources = json.loads(exported)["deployment"]["resources"]
    results = [r["outputs"]["result"] for r in resources if r["type"].endswith("RandomPassword")]
    # A secret shows as {<signature>: ..., "plaintext": <JSON of the value>}.
    found = [json.loads(r["plaintext"]) if isinstance(r, dict) else r for r in results]
    assert len(found) == 2
    assert not any(password in exported_state(stack) for password in found)  # encrypted at rest
    return found


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_lab_up()
    # This test checks that destroy keeps the data by default, and removes it itself.
    stack = component_stack(
        "database",
        tmp_path_factory.mktemp("database"),
        ["database"],
        overrides={"database": {**lab_database(), "deleteDataOnDestroy": False}},
    )
    lines: list[str] = []
    try:
        with ProcessSampler(NODES) as sampler:
            result = stack.up(on_output=lines.append)
        yield {"stack": stack, "result": result, "argv": on_nodes(sampler), "log": lines}
    finally:
        stack.destroy(on_output=lines.append)
        for node in NODES:
            # The nodes had no MariaDB before: remove the data the test's destroy kept.
            on(
                node,
                f"rm -f {LOGIN}; dpkg -s mariadb-server >/dev/null 2>&1 || "
                f"{{ rm -rf {DATA_DIR} /etc/mysql; userdel mysql; groupdel mysql; }} 2>/dev/null",
                check=False,
            )


@pytest.fixture(scope="module")
def passwords(deployed: dict[str, Any]) -> list[str]:
    stack: auto.Stack = deployed["stack"]
    found = secrets_of(stack)
    user_password = stack.outputs()["database"].value["password"]
    assert user_password in found
    for node in NODES:
        on(
            node,
            f"umask 077; cat > {LOGIN}",
            stdin=f"[client]\nuser=rainbond\npassword={user_password}\n",
        )
    return found


def test_deploy_outputs(deployed: dict[str, Any]) -> None:
    database = deployed["stack"].outputs()["database"]
    assert {k: database.value[k] for k in ("host", "port", "user")} == {
        "host": node_address("node1"),
        "port": 3306,
        "user": "rainbond",
    }


def test_no_password_in_argv_or_logs(deployed: dict[str, Any], passwords: list[str]) -> None:
    assert len(deployed["argv"]) > 20  # sampled throughout the deploy
    assert any("mariadb" in sample for sample in deployed["argv"])  # the scripts did run
    journals = "".join(on(node, "journalctl --no-pager -q -n 5000") for node in NODES)
    for password in passwords:
        assert not any(password in sample for sample in deployed["argv"])
        assert password not in "".join(deployed["log"])
        assert password not in journals


def test_databases_are_utf8mb4_on_both(passwords: list[str]) -> None:
    for node in NODES:
        rows = root_sql(
            node,
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA"
            " WHERE SCHEMA_NAME IN ('console', 'region') ORDER BY 1",
        )
        assert rows.splitlines() == ["console\tutf8mb4", "region\tutf8mb4"], node


def test_thousand_rows_replicate_and_the_replica_refuses_writes(passwords: list[str]) -> None:
    # The Rainbond user, from a cluster address (node2) to the source.
    as_rainbond(
        "node2",
        NODES["node1"],
        "CREATE TABLE console.rows_test (id INT PRIMARY KEY, at TIMESTAMP DEFAULT NOW());"
        " USE console; INSERT INTO rows_test (id) SELECT seq FROM seq_1_to_1000;",
    )
    wait_replicated("node1", "node2")
    assert count("node2") == 1000
    refused = as_rainbond(
        "node1", NODES["node2"], "INSERT INTO console.rows_test (id) VALUES (5000)", check=False
    )
    assert "read-only" in refused
    assert count("node2") == 1000


def test_rainbond_user_refused_outside_the_cluster(passwords: list[str]) -> None:
    # The host (HOST_ADDR) is no node: the server turns it away before authentication.
    with socket.create_connection((NODES["node1"], 3306), timeout=10) as connection:
        packet = connection.recv(4096)
    assert packet[4] == 0xFF, packet  # an error packet, not the handshake
    assert int.from_bytes(packet[5:7], "little") == 1130  # ER_HOST_NOT_PRIVILEGED
    assert HOST_ADDR.encode() in packet


def test_replica_catches_up_after_a_kill_during_writes(passwords: list[str]) -> None:
    writer = subprocess.Popen(
        ssh_argv(
            "node2",
            f"for i in $(seq 1001 1400); do mariadb --defaults-extra-file={LOGIN}"
            f' -h {NODES["node1"]} -e "INSERT INTO console.rows_test (id) VALUES ($i)"; done',
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(2)
    on("node2", "pkill -KILL -x mariadbd")
    # systemd restarts a crashed server (Restart=on-abnormal); start it if it has not yet.
    time.sleep(6)
    on("node2", "systemctl start mariadb")
    _, errors = writer.communicate(timeout=240)
    assert writer.returncode == 0, errors.decode()
    wait_replicated("node1", "node2")
    status = on("node2", "mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status
    assert root_sql("node2", "SELECT COUNT(*), MIN(id), MAX(id) FROM console.rows_test") == (
        "1400\t1\t1400"
    )


def test_second_up_changes_nothing(deployed: dict[str, Any]) -> None:
    result = deployed["stack"].up()
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    assert changes == {}


def test_switchover_loses_no_committed_row(deployed: dict[str, Any], passwords: list[str]) -> None:
    stack: auto.Stack = deployed["stack"]
    # Writes to the source as the Rainbond user; the ids that committed are recorded.
    writer = subprocess.Popen(
        ssh_argv(
            "node2",
            f"for i in $(seq 2001 2600); do mariadb --defaults-extra-file={LOGIN}"
            f' -h {NODES["node1"]} -e "INSERT INTO console.rows_test (id) VALUES ($i)"'
            " 2>/dev/null && echo $i; sleep 0.05; done",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(2)
    write_config(
        stack,
        {**lab_database(), "deleteDataOnDestroy": False, "source": "node2", "replica": "node1"},
    )
    with ProcessSampler(NODES) as sampler:
        stack.up(on_output=deployed["log"].append)
    committed = [int(line) for line in writer.communicate(timeout=120)[0].decode().split()]
    assert committed and committed[-1] < 2600  # writes stopped at the demotion
    assert stack.outputs()["database"].value["host"] == NODES["node2"]
    for password in passwords:
        assert not any(password in sample for sample in on_nodes(sampler))

    as_rainbond("node1", NODES["node2"], "INSERT INTO console.rows_test (id) VALUES (3000)")
    wait_replicated("node2", "node1")
    status = on("node1", "mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert f"Master_Host: {NODES['node2']}" in status
    assert "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status
    rows = {node: root_sql(node, "SELECT id FROM console.rows_test").split() for node in NODES}
    assert rows["node1"] == rows["node2"]
    assert {*map(int, rows["node2"])} >= {*range(1, 1401), *committed, 3000}
    refused = as_rainbond(
        "node2", NODES["node1"], "INSERT INTO console.rows_test (id) VALUES (3001)", check=False
    )
    assert "read-only" in refused
    assert stack.preview().change_summary.get(auto.OpType.UPDATE, 0) == 0


def test_destroy_removes_service_and_config_and_keeps_data(deployed: dict[str, Any]) -> None:
    stack: auto.Stack = deployed["stack"]
    stack.destroy(on_output=deployed["log"].append)
    for node in NODES:
        state = on(
            node,
            f"dpkg -s mariadb-server >/dev/null 2>&1 && echo installed; test -e {CONFIG_FILE}"
            f" && echo config; systemctl is-active mariadb;"
            f" test -d {DATA_DIR}/console && echo data",
            check=False,
        )
        assert "installed" not in state and "config" not in state, node
        assert "data" in state, node
        assert on(node, "dpkg -l | grep -c '^ii.*mariadb' || true").strip() == "0", node
