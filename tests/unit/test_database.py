"""The managed database's files, SQL and steps; the MySQL engine is covered only here."""

from __future__ import annotations

import re
import shlex
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from components.database import files
from components.database.component import SERVER
from tests.unit.conftest import (
    FAKE_KUBECONFIG,
    Deployment,
    Registration,
    deploy,
    edited,
    fake_password,
    is_secret,
    unwrap,
)
from tests.unit.edits import put
from tests.unit.plan import COMMAND, NEXT_RELEASE, change, next_release, plan

NODE1, NODE2 = IPv4Address("10.0.0.11"), IPv4Address("10.0.0.12")


def options(text: str) -> dict[str, str]:
    """`key = value` lines of the [mysqld] group; a bare option maps to ''."""
    group, found = "", {}
    for line in text.splitlines():
        if line.startswith("["):
            group = line
        elif group == "[mysqld]" and line and not line.startswith("#"):
            key, _, value = line.partition(" = ")
            found[key] = value
    return found


def rendered_params(step: Registration) -> dict[str, str]:
    """The shell variables in front of a step's script (see remote.render)."""
    text = shlex.split(unwrap(step.inputs["create"]))[2]
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    params = {}
    while (token := lexer.get_token()) and re.match(r"^[A-Z_]+=", token):
        key, value = token.split("=", 1)
        params[key] = value
    return params


# --------------------------------------------------------------------------- server options


def test_mariadb_server_options() -> None:
    first = options(files.server_config("mariadb", address=NODE1, port=3306))
    second = options(files.server_config("mariadb", address=NODE2, port=3306))
    assert first["server-id"] != second["server-id"]
    assert first["bind-address"] == "10.0.0.11"
    assert first["binlog-format"] == "ROW"
    assert first["log-slave-updates"] == "ON"
    assert first["gtid-strict-mode"] == "ON"
    assert first["character-set-server"] == "utf8mb4"
    assert "skip-name-resolve" in first
    assert first["read-only"] == "ON"
    assert "super-read-only" not in first  # MariaDB has no such option: it would not start


def test_mysql_server_options() -> None:
    mysql = options(files.server_config("mysql", address=NODE1, port=3307))
    assert mysql["port"] == "3307"
    assert mysql["gtid-mode"] == "ON"
    assert mysql["enforce-gtid-consistency"] == "ON"
    assert mysql["super-read-only"] == "ON"
    assert mysql["default-authentication-plugin"] == "mysql_native_password"
    assert "gtid-strict-mode" not in mysql


@pytest.mark.parametrize("engine", ["mysql", "mariadb"])
def test_the_source_option_file_lifts_read_only(engine: files.Engine) -> None:
    base = options(files.server_config(engine, address=NODE1, port=3306))
    source = options(files.source_config(engine))
    assert {key: source.get(key, value) for key, value in base.items() if "read-only" in key} == {
        key: "OFF" for key in base if "read-only" in key
    }
    # Read after the server's own file, so it wins.
    assert files.SOURCE_CONFIG_FILE > files.SERVER_CONFIG_FILE


def test_server_id_follows_the_node_not_the_role() -> None:
    assert files.server_id(NODE1) == int(NODE1)
    assert 1 <= files.server_id(IPv4Address("255.255.255.254")) < 2**32


# --------------------------------------------------------------------------- SQL


def test_host_patterns_use_netmasks_both_engines_understand() -> None:
    assert files.host_patterns(
        [NODE1, NODE2], [IPv4Network("10.42.0.0/16"), IPv4Network("10.0.0.11/32")]
    ) == ["10.0.0.11", "10.0.0.12", "10.42.0.0/255.255.0.0"]


def setup(engine: files.Engine) -> str:
    return files.setup_sql(
        engine,
        databases=["console", "region"],
        user="rainbond",
        password="userpw",
        client_hosts=["10.0.0.11", "10.42.0.0/255.255.0.0"],
        replication_password="replpw",
        replica_hosts=["10.0.0.11", "10.0.0.12"],
    )


@pytest.mark.parametrize("engine", ["mysql", "mariadb"])
def test_setup_creates_utf8mb4_databases_and_users_per_allowed_host(engine: files.Engine) -> None:
    sql = setup(engine)
    for name in ("console", "region"):
        assert (
            f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE "
            "utf8mb4_unicode_ci;" in sql
        )
    for host in ("10.0.0.11", "10.42.0.0/255.255.0.0"):
        assert f"GRANT ALL PRIVILEGES ON `console`.* TO 'rainbond'@'{host}';" in sql
        assert f"GRANT ALL PRIVILEGES ON `region`.* TO 'rainbond'@'{host}';" in sql
    for host in ("10.0.0.11", "10.0.0.12"):
        assert f"GRANT REPLICATION SLAVE ON *.* TO 'replication'@'{host}';" in sql
        assert f"GRANT SELECT ON `rainbond_ha`.`history` TO 'replication'@'{host}';" in sql
    # No account for any host, and no other privilege.
    assert "'%'" not in sql
    assert len(re.findall(r"^GRANT ", sql, re.M)) == 2 * 2 + 2 * 2


@pytest.mark.parametrize("engine", ["mysql", "mariadb"])
def test_the_history_id_is_written_once_before_the_grant_on_it(engine: files.Engine) -> None:
    sql = setup(engine)
    insert = "INSERT INTO `rainbond_ha`.`history` (id) SELECT UUID() FROM DUAL WHERE NOT EXISTS"
    assert sql.count(insert) == 1
    # Only when the table is empty: a promoted replica keeps the id its source wrote.
    assert "(SELECT 1 FROM `rainbond_ha`.`history`);" in sql
    assert sql.index("CREATE TABLE IF NOT EXISTS `rainbond_ha`.`history`") < sql.index(insert)
    assert sql.index(insert) < sql.index("GRANT SELECT ON `rainbond_ha`.`history`")
    assert files.HISTORY_QUERY.endswith("FROM `rainbond_ha`.`history`")


def test_mysql_users_use_mysql_native_password() -> None:
    sql = setup("mysql")
    assert (
        "ALTER USER 'rainbond'@'10.0.0.11' IDENTIFIED WITH mysql_native_password BY 'userpw';"
        in sql
    )
    assert "CREATE USER IF NOT EXISTS 'replication'@'10.0.0.12' IDENTIFIED WITH" in sql
    assert "IDENTIFIED BY" not in sql


def test_mariadb_users() -> None:
    assert "ALTER USER 'rainbond'@'10.0.0.11' IDENTIFIED BY 'userpw';" in setup("mariadb")


def test_sql_literals_are_escaped() -> None:
    assert files.quote("it's \\ fine") == "'it\\'s \\\\ fine'"


def test_stale_accounts_are_those_outside_the_allowed_hosts() -> None:
    sql = files.stale_accounts_sql(
        user="rainbond", client_hosts=["10.0.0.11"], replica_hosts=["10.0.0.11", "10.0.0.12"]
    )
    assert "(User = 'rainbond' AND Host NOT IN ('10.0.0.11'))" in sql
    assert "(User = 'replication' AND Host NOT IN ('10.0.0.11', '10.0.0.12'))" in sql


def test_mysql_replica_uses_gtid_auto_positioning() -> None:
    sql = files.replication_sql("mysql", source_host="10.0.0.11", port=3306, password="pw")
    assert "CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.11', SOURCE_PORT = 3306" in sql
    assert "SOURCE_AUTO_POSITION = 1" in sql
    assert sql.index("STOP REPLICA") < sql.index("CHANGE") < sql.index("START REPLICA")


def test_mariadb_replica_follows_by_gtid_from_what_it_already_holds() -> None:
    sql = files.replication_sql("mariadb", source_host="10.0.0.11", port=3306, password="pw")
    assert "MASTER_USE_GTID = slave_pos" in sql
    # A former source resumes after its own writes instead of asking for them again.
    assert sql.index("SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos") < sql.index("CHANGE")


def test_mysql_replica_is_kept_read_only_for_every_account() -> None:
    mysql = files.DIALECTS["mysql"]
    assert mysql.read_only_on == "SET GLOBAL super_read_only = ON"
    assert mysql.wait_function == "WAIT_FOR_EXECUTED_GTID_SET"
    assert files.DIALECTS["mariadb"].wait_function == "MASTER_GTID_WAIT"


# --------------------------------------------------------------------------- steps


def swapped(config: dict[str, Any]) -> dict[str, Any]:
    return edited(config, put("database.source", "rbd-2"), put("database.replica", "rbd-1"))


def test_steps_and_their_order(dev: Deployment) -> None:
    source, replica = dev.named("database-source"), dev.named("database-replica")
    servers = [dev.named(f"database-server-rbd-{i}") for i in (1, 2)]
    assert {s.urn for s in servers} <= set(source.dependencies)
    assert source.urn in replica.dependencies
    assert unwrap(source.inputs["connection"])["host"] == "192.0.2.11"
    assert unwrap(replica.inputs["connection"])["host"] == "192.0.2.12"
    assert rendered_params(replica)["SOURCE_HOST"] == "192.0.2.11"
    # Named in its refusal of data from another deployment.
    assert rendered_params(replica)["NODE_NAME"] == "rbd-2"
    assert rendered_params(replica)["DATA_DIR"] == "/var/lib/mysql"


def test_secrets_reach_the_source_and_replica_on_stdin_only(dev: Deployment) -> None:
    source, replica = dev.named("database-source"), dev.named("database-replica")
    assert is_secret(source.inputs["stdin"]) and is_secret(replica.inputs["stdin"])
    replication_password, sql = unwrap(source.inputs["stdin"]).split("\n", 1)
    assert sql.startswith("CREATE DATABASE")
    assert f"'replication'@'192.0.2.12' IDENTIFIED BY '{replication_password}'" in sql
    # The replica reads the source's history id with the replication login first.
    replica_password, replica_sql = unwrap(replica.inputs["stdin"]).split("\n", 1)
    assert replica_password == replication_password
    assert replica_sql.startswith("STOP SLAVE;")
    assert f"MASTER_PASSWORD = '{replication_password}'" in replica_sql
    for step in (source, replica, dev.named("database-server-rbd-1")):
        assert "IDENTIFIED" not in unwrap(step.inputs["create"])


def test_a_switchover_moves_the_role_steps_and_leaves_the_servers(
    dev: Deployment, dev_config: dict[str, Any]
) -> None:
    after = deploy(swapped(dev_config))
    for node in ("rbd-1", "rbd-2"):
        name = f"database-server-{node}"
        assert after.named(name).inputs["create"] == dev.named(name).inputs["create"]
    # Replaced, not updated in place: the old node's delete (demotion) must run first.
    for name in ("database-source", "database-replica"):
        assert change(dev.named(name), after.named(name)) == "replace"
    assert unwrap(after.named("database-source").inputs["connection"])["host"] == "192.0.2.12"
    assert rendered_params(after.named("database-replica"))["SOURCE_HOST"] == "192.0.2.12"
    assert after.outputs["database"].value["host"] == "192.0.2.12"


def test_rainbond_user_hosts(dev: Deployment, dev_config: dict[str, Any]) -> None:
    # RKE2 (the dev stack): every node, and the pod network.
    assert rendered_params(dev.named("database-source"))["CLIENT_HOSTS"] == (
        "192.0.2.11 192.0.2.12 192.0.2.13 10.42.0.0/255.255.0.0"
    )
    existing = deploy(
        edited(
            dev_config,
            put("kubernetes", {"mode": "existing", "kubeconfig": FAKE_KUBECONFIG}),
            put("database.clientNetworks", ["172.16.0.0/12"]),
        )
    )
    assert rendered_params(existing.named("database-source"))["CLIENT_HOSTS"] == (
        "192.0.2.11 192.0.2.12 192.0.2.13 172.16.0.0/255.240.0.0"
    )


def test_data_is_deleted_only_when_asked_and_after_the_server(
    dev: Deployment, dev_config: dict[str, Any]
) -> None:
    assert not [r for r in dev.registrations.values() if "database-data" in r.name]
    deleting = deploy(edited(dev_config, put("database.deleteDataOnDestroy", True)))
    for node in ("rbd-1", "rbd-2"):
        data = deleting.named(f"database-data-{node}")
        assert data.urn in deleting.named(f"database-server-{node}").dependencies
        assert "rm -rf" in unwrap(data.inputs["delete"])
    # Turning it on or off never replaces a server (whose delete would run).
    for node in ("rbd-1", "rbd-2"):
        name = f"database-server-{node}"
        assert deleting.named(name).inputs["create"] == dev.named(name).inputs["create"]


def test_a_release_or_a_setting_updates_the_database_steps_in_place(
    dev_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    deleting = edited(dev_config, put("database.deleteDataOnDestroy", True))
    before = deploy(deleting)
    # A release that changes the helpers every database script shares, and another port.
    next_release(monkeypatch, "database")
    after = deploy(edited(deleting, put("database.port", 3307)))
    # Updated in place: no delete runs (the data step's wipes the data once the server is
    # gone), while destroy runs the new ones.
    database = {k: v for k, v in plan(before, after, COMMAND).items() if k.startswith("database-")}
    assert set(database.values()) == {"update"}, database
    for node in ("rbd-1", "rbd-2"):
        new = after.named(f"database-data-{node}")
        assert NEXT_RELEASE in unwrap(new.inputs["delete"])


def external_stack(dev_config: dict[str, Any]) -> Deployment:
    """The dev stack with an external database server and admin credentials."""
    return deploy(
        edited(
            dev_config,
            put("nodes[0].roles", ["master", "gateway", "build"]),
            put("nodes[1].roles", ["master", "gateway", "build"]),
            put(
                "database",
                {
                    "mode": "external",
                    "host": "db.example",
                    "password": "userpw",
                    "adminUser": "root",
                    "adminPassword": "adminpw",
                },
            ),
        )
    )


def test_external_mode_checks_from_a_cluster_node(dev_config: dict[str, Any]) -> None:
    external = external_stack(dev_config)
    (step,) = [r for r in external.registrations.values() if r.name.startswith("database-")]
    assert step.name == "database-external"
    params = rendered_params(step)
    assert (params["HOST"], params["ADMIN_USER"]) == ("db.example", "root")
    assert "CREATE DATABASE IF NOT EXISTS `console` CHARACTER SET utf8mb4" in params["CREATE_SQL"]
    assert is_secret(step.inputs["stdin"])
    assert unwrap(step.inputs["stdin"]) == "userpw\nadminpw\n"
    assert "delete" in step.inputs  # it may install the client, and removes it again
    assert external.outputs["database"].value["host"] == "db.example"


def test_the_source_restarts_only_after_its_replica_applied_everything(dev: Deployment) -> None:
    # Each server step knows the other node and gets the replication password to ask it.
    replication_password = fake_password("database-replication-password", 32)
    for node, peer in (("rbd-1", "192.0.2.12"), ("rbd-2", "192.0.2.11")):
        server = dev.named(f"database-server-{node}")
        assert rendered_params(server)["PEER_ADDRESS"] == peer
        assert unwrap(server.inputs["stdin"]) == replication_password
    script = (SERVER.folder / "server.sh").read_text()
    # Asked before the new options file replaces the old one, so a refusal changes nothing.
    assert script.index("WAIT_FUNCTION") < script.index('mv -f "${NEW}"')
