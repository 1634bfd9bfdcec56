"""The managed database on the lab nodes, as its lab tests and benchmarks read and change it."""

from __future__ import annotations

import subprocess
from typing import Any

from pulumi import automation as auto

from lab.labctl import node_address, ssh_argv
from tests.lab_stacks.harness import lab_config, set_section

NODES = {name: node_address(name) for name in ("node1", "node2")}
CONFIG_FILE = "/etc/mysql/mariadb.conf.d/z1-rainbond-ha.cnf"
DATA_DIR = "/var/lib/mysql"
# The Rainbond user's client settings on a node, written from stdin, never in argv.
LOGIN = "/run/rainbond-ha-db-test.cnf"


def on(node: str, command: str, stdin: str = "", check: bool = True) -> str:
    result = subprocess.run(
        ssh_argv(node, command), input=stdin.encode(), capture_output=True, timeout=300
    )
    out = result.stdout.decode() + result.stderr.decode()
    if check and result.returncode != 0:
        raise AssertionError(f"{node}: {command!r} failed ({result.returncode}): {out}")
    return out


def root_sql(node: str, query: str) -> str:
    return on(node, "mariadb -N -B", stdin=query).strip()


def as_rainbond(node: str, host: str, query: str, check: bool = True) -> str:
    """`query` as the Rainbond user, from `node` to the server at `host`."""
    return on(node, f"mariadb --defaults-extra-file={LOGIN} -h {host} -N -B", query, check)


def count(node: str) -> int:
    return int(root_sql(node, "SELECT COUNT(*) FROM console.rows_test"))


def wait_replicated(source: str, replica: str, timeout: float = 60) -> None:
    position = root_sql(source, "SELECT @@GLOBAL.gtid_binlog_pos")
    waited = root_sql(replica, f"SELECT MASTER_GTID_WAIT('{position}', {timeout})")
    assert waited == "0", f"{replica} did not reach {source}'s {position}"


def lab_database() -> dict[str, Any]:
    section: dict[str, Any] = lab_config()["rainbond-ha:database"]
    return section


def write_config(stack: auto.Stack, database: dict[str, Any]) -> None:
    set_section(stack, "database", database)


WIPE = f"{{ rm -rf {DATA_DIR} /etc/mysql; userdel mysql; groupdel mysql; }} 2>/dev/null; true"


def wipe(node: str) -> None:
    on(node, WIPE)


def start_clean() -> None:
    """Refuses nodes a stack is deployed on; wipes data an earlier stack left behind."""
    for node in NODES:
        held = on(node, "dpkg -s mariadb-server >/dev/null 2>&1 && echo installed", check=False)
        assert "installed" not in held, f"{node} runs MariaDB: a stack is deployed there"
        wipe(node)
