"""What the managed database places on its nodes: server config files and SQL, as pure functions.

Everything that differs between MySQL 8.0 and MariaDB lives here, in `Dialect`, so the node
scripts stay engine-agnostic and the MySQL side is covered by unit tests even where no MySQL
package is at hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from config import known_hosts

from ..shared.timers import calendar_timer, oneshot_service

Engine = Literal["mysql", "mariadb"]

REPLICATION_USER = "replication"
DATA_DIR = "/var/lib/mysql"
# Files in the engine's config folder are read in name order; these sort after the packages' own.
SERVER_CONFIG_FILE = "z1-rainbond-ha.cnf"
SOURCE_CONFIG_FILE = "z2-rainbond-ha-source.cnf"
# Long enough to rebuild a replica from the binary logs after two weeks away.
BINLOG_RETENTION_SECONDS = 14 * 24 * 3600
CHARSET = "utf8mb4"
COLLATION = "utf8mb4_unicode_ci"
# One row, written once by the first source of a deployment's data and replicated from there: two
# nodes hold the same id only if their data descends from the same deployment. GTIDs cannot tell
# (server ids are addresses, so a wiped source reuses the numbers of its former history).
HISTORY_TABLE = "`rainbond_ha`.`history`"
HISTORY_QUERY = f"SELECT COALESCE(GROUP_CONCAT(id ORDER BY id), '') FROM {HISTORY_TABLE}"


@dataclass(frozen=True)
class Dialect:
    """How one engine is installed, checked and driven; the values become script parameters."""

    package: str
    service: str
    server: str
    client: str
    config_dir: str
    # Arguments after `--defaults-extra-file=<candidate>` that make the server check its options.
    validate: str
    replica_status: str
    source_host_field: str
    io_running_field: str
    sql_running_field: str
    start_replica: str
    stop_replica: str
    reset_replica: str
    read_only_on: str
    read_only_off: str
    # On the old source during a switchover: is it read-only, and what has it written.
    source_position: str
    # Called as FUNCTION('<position>', <seconds>); both return 0 once the position is applied.
    wait_function: str

    def params(self) -> dict[str, str]:
        return {key.upper(): value for key, value in vars(self).items()}


DIALECTS: dict[Engine, Dialect] = {
    "mariadb": Dialect(
        package="mariadb-server",
        service="mariadb",
        server="mariadbd",
        client="mariadb",
        config_dir="/etc/mysql/mariadb.conf.d",
        # MariaDB has no --validate-config; --help --verbose exits non-zero on a bad option.
        validate="--help --verbose",
        replica_status="SHOW SLAVE STATUS",
        source_host_field="Master_Host",
        io_running_field="Slave_IO_Running",
        sql_running_field="Slave_SQL_Running",
        start_replica="START SLAVE",
        stop_replica="STOP SLAVE",
        reset_replica="RESET SLAVE ALL",
        read_only_on="SET GLOBAL read_only = ON",
        read_only_off="SET GLOBAL read_only = OFF",
        source_position="SELECT @@GLOBAL.read_only, @@GLOBAL.gtid_binlog_pos",
        wait_function="MASTER_GTID_WAIT",
    ),
    "mysql": Dialect(
        package="mysql-server",
        service="mysql",
        server="mysqld",
        client="mysql",
        config_dir="/etc/mysql/mysql.conf.d",
        validate="--validate-config --user=mysql",
        replica_status="SHOW REPLICA STATUS",
        source_host_field="Source_Host",
        io_running_field="Replica_IO_Running",
        sql_running_field="Replica_SQL_Running",
        start_replica="START REPLICA",
        stop_replica="STOP REPLICA",
        reset_replica="RESET REPLICA ALL",
        # super_read_only also stops accounts with SUPER; turning read_only off clears both.
        read_only_on="SET GLOBAL super_read_only = ON",
        read_only_off="SET GLOBAL read_only = OFF",
        source_position=(
            "SELECT @@GLOBAL.super_read_only, REPLACE(@@GLOBAL.gtid_executed, '\\n', '')"
        ),
        wait_function="WAIT_FOR_EXECUTED_GTID_SET",
    ),
}


def server_id(address: IPv4Address) -> int:
    """Unique per node and independent of its role, so a switchover leaves server configs alone."""
    return int(address)


def server_config(engine: Engine, *, address: IPv4Address, port: int) -> str:
    """The server's options on either node; it starts read-only until `source_config` says not."""
    lines = [
        "# Written by rainbond-ha: the server for Rainbond's console and region databases.",
        "[mysqld]",
        f"bind-address = {address}",
        f"port = {port}",
        f"server-id = {server_id(address)}",
        "log-bin = mysql-bin",
        "relay-log = relay-bin",
        "binlog-format = ROW",
        f"binlog-expire-logs-seconds = {BINLOG_RETENTION_SECONDS}",
        # A replica writes what it applies to its own binary log, so it can become the source.
        "log-slave-updates = ON",
        f"character-set-server = {CHARSET}",
        f"collation-server = {COLLATION}",
        "skip-name-resolve",
        # Every node boots read-only: a server that restarts never takes writes by surprise.
        "read-only = ON",
    ]
    if engine == "mysql":
        lines += [
            "super-read-only = ON",
            "gtid-mode = ON",
            "enforce-gtid-consistency = ON",
            "relay-log-recovery = ON",
            # Rainbond's console needs it on 8.0 (its driver predates caching_sha2_password).
            "default-authentication-plugin = mysql_native_password",
        ]
    else:
        # A replica that holds a transaction its source lacks stops instead of diverging.
        lines.append("gtid-strict-mode = ON")
    lines += ["", "[client]", f"default-character-set = {CHARSET}"]
    return "\n".join(lines) + "\n"


def source_config(engine: Engine) -> str:
    """The source's override of the read-only default."""
    lines = ["# Written by rainbond-ha: this node is the source and takes writes.", "[mysqld]"]
    if engine == "mysql":
        lines.append("super-read-only = OFF")
    lines.append("read-only = OFF")
    return "\n".join(lines) + "\n"


def host_patterns(addresses: Iterable[IPv4Address], networks: Iterable[IPv4Network]) -> list[str]:
    """Account host parts: an address as is, a network as address/netmask (both engines)."""
    patterns = [str(address) for address in addresses]
    for network in networks:
        if network.prefixlen == network.max_prefixlen:
            patterns.append(str(network.network_address))
        else:
            patterns.append(f"{network.network_address}/{network.netmask}")
    return sorted(set(patterns), key=patterns.index)


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _account(user: str, host: str) -> str:
    return f"{quote(user)}@{quote(host)}"


def _identified(engine: Engine, password: str) -> str:
    plugin = "WITH mysql_native_password " if engine == "mysql" else ""
    return f"IDENTIFIED {plugin}BY {quote(password)}"


def create_databases_sql(databases: Sequence[str]) -> str:
    return "".join(
        f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET {CHARSET} COLLATE {COLLATION};\n"
        f"ALTER DATABASE `{name}` CHARACTER SET {CHARSET} COLLATE {COLLATION};\n"
        for name in databases
    )


def _user_sql(engine: Engine, user: str, host: str, password: str, grants: Sequence[str]) -> str:
    account = _account(user, host)
    identified = _identified(engine, password)
    sql = f"CREATE USER IF NOT EXISTS {account} {identified};\nALTER USER {account} {identified};\n"
    return sql + "".join(f"GRANT {grant} TO {account};\n" for grant in grants)


def setup_sql(
    engine: Engine,
    *,
    databases: Sequence[str],
    user: str,
    password: str,
    client_hosts: Sequence[str],
    replication_password: str,
    replica_hosts: Sequence[str],
) -> str:
    """Run on the source: databases, the Rainbond user per client host, the replication user.

    It holds passwords, so it travels on stdin only. Users and grants replicate, so the
    replica can take over without running it again.
    """
    grants = [f"ALL PRIVILEGES ON `{name}`.*" for name in databases]
    sql = create_databases_sql(databases) + history_sql()
    for host in client_hosts:
        sql += _user_sql(engine, user, host, password, grants)
    # The replica reads the source's history id with this login before it follows it.
    replication_grants = ["REPLICATION SLAVE ON *.*", f"SELECT ON {HISTORY_TABLE}"]
    for host in replica_hosts:
        sql += _user_sql(engine, REPLICATION_USER, host, replication_password, replication_grants)
    return sql


def history_sql() -> str:
    """Gives the data a history id unless it has one (a promoted replica keeps its source's)."""
    return (
        "CREATE DATABASE IF NOT EXISTS `rainbond_ha`;\n"
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (id CHAR(36) NOT NULL PRIMARY KEY,"
        " created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);\n"
        f"INSERT INTO {HISTORY_TABLE} (id) SELECT UUID() FROM DUAL"
        f" WHERE NOT EXISTS (SELECT 1 FROM {HISTORY_TABLE});\n"
    )


def stale_accounts_sql(
    *, user: str, client_hosts: Sequence[str], replica_hosts: Sequence[str]
) -> str:
    """Lists (as user@host, quoted) the accounts of our users on hosts no longer allowed."""

    def outside(name: str, hosts: Sequence[str]) -> str:
        allowed = ", ".join(quote(host) for host in hosts)
        return f"(User = {quote(name)} AND Host NOT IN ({allowed}))"

    return (
        "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE "
        f"{outside(user, client_hosts)} OR {outside(REPLICATION_USER, replica_hosts)}"
    )


def replication_sql(engine: Engine, *, source_host: str, port: int, password: str) -> str:
    """Run on the replica: follow the source by GTID from what this node already holds."""
    if engine == "mysql":
        return (
            "STOP REPLICA;\nRESET REPLICA ALL;\n"
            f"CHANGE REPLICATION SOURCE TO SOURCE_HOST = {quote(source_host)},"
            f" SOURCE_PORT = {port}, SOURCE_USER = {quote(REPLICATION_USER)},"
            f" SOURCE_PASSWORD = {quote(password)}, SOURCE_AUTO_POSITION = 1,"
            " SOURCE_CONNECT_RETRY = 5, GET_SOURCE_PUBLIC_KEY = 1;\n"
            "START REPLICA;\n"
        )
    # gtid_slave_pos only records what this node applied as a replica; a former source holds
    # its own writes in the binary log, which (with log-slave-updates) has everything it applied.
    return (
        "STOP SLAVE;\nRESET SLAVE ALL;\n"
        "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_binlog_pos;\n"
        f"CHANGE MASTER TO MASTER_HOST = {quote(source_host)}, MASTER_PORT = {port},"
        f" MASTER_USER = {quote(REPLICATION_USER)}, MASTER_PASSWORD = {quote(password)},"
        " MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 5;\n"
        "START SLAVE;\n"
    )


def backup_service(run_path: str) -> str:
    return oneshot_service(
        comment="one backup of the console and region databases.",
        description="rainbond-ha database backup",
        command=f"{run_path} run",
        after="network-online.target mariadb.service mysql.service",
    )


def backup_timer(schedule: str) -> str:
    return calendar_timer(
        comment="when the database backups run.",
        description="rainbond-ha database backups",
        schedule=schedule,
    )


def known_host_line(host: str, port: int, host_key: str) -> str:
    """The copy target's pinned key, as ssh looks it up."""
    return f"{known_hosts.host_name(host, port)} {host_key}\n"
