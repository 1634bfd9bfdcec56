"""The MySQL/MariaDB server Rainbond's console and region use: builtin, external or managed.

Managed, in the order an operator would work: install and configure the server on both nodes
(each starts read-only), make the source writable and create databases and users there, then
point the replica at it. The steps are named by role, so swapping source and replica in the
config replaces them in that order: the old source's delete makes it read-only, the new source
waits until it has everything the old one wrote before it takes writes, and only then is the
old source turned into the replica. A node's server step is named by the node and does not
change in a switchover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from ipaddress import IPv4Network

import pulumi

from config import Node
from config.model import DatabaseSpec, ExternalDatabase, ManagedDatabase

from ..shared.drift import Owned
from ..shared.passwords import generated_password
from ..shared.remote import Scripts, Steps
from . import files
from .backup import backup_step

CONSOLE_DATABASE = "console"
REGION_DATABASE = "region"
DATABASES = [CONSOLE_DATABASE, REGION_DATABASE]
# How long a replica may take to start replicating, and a new source to catch up.
WAIT_SECONDS = 120
EXTERNAL_CLIENT_PACKAGE = "mariadb-client"
# What scripts/external.sh accepts; the managed mode installs MariaDB or MySQL 8.0 only.
EXTERNAL_SUPPORTED = "MySQL 5.7 or 8.0, or MariaDB 10.x or 11.x"
# common.sh, which every script here starts with, calls the package helpers.
_SCRIPTS = Scripts(__file__, packages=True)
SERVER, DATA, SOURCE, REPLICA, EXTERNAL = (
    _SCRIPTS(name) for name in ("server", "data", "source", "replica", "external")
)


@dataclass(frozen=True)
class DatabaseConnection:
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    user: pulumi.Output[str]
    password: pulumi.Output[str]

    def outputs(self) -> dict[str, pulumi.Output[object]]:
        # Not dataclasses.asdict: it deep-copies values, and an Output cannot be copied.
        return {field.name: getattr(self, field.name) for field in fields(self)}


class Database(pulumi.ComponentResource):
    """`connection` is None in builtin mode, where Rainbond runs its own rbd-db."""

    connection: DatabaseConnection | None

    def __init__(
        self,
        name: str,
        database: DatabaseSpec,
        *,
        nodes: Sequence[Node],
        pod_network: IPv4Network | None,
        steps: Steps,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`nodes`: the cluster's nodes, source and replica among them, all allowed to log in,
        as is `pod_network` when pods reach the server from their own addresses."""
        super().__init__("rainbond-ha:database:MySQLReplication", name, None, opts)
        self.connection = None
        match database:
            case ExternalDatabase():
                first = next(node for node in nodes if node.is_kubernetes_node)
                self.connection = _external(name, database, first, steps, self)
            case ManagedDatabase():
                clients = client_hosts(database, nodes, pod_network)
                self.connection = _managed(name, database, nodes, clients, steps, self)
        self.register_outputs({} if self.connection is None else self.connection.outputs())


def client_hosts(
    database: ManagedDatabase, nodes: Sequence[Node], pod_network: IPv4Network | None
) -> list[str]:
    """Where the Rainbond user may log in from: the cluster's nodes and its pod network."""
    networks = list(database.client_networks)
    if pod_network is not None:
        networks.append(pod_network)
    return files.host_patterns([node.internal_address for node in nodes], networks)


def _managed(
    name: str,
    database: ManagedDatabase,
    nodes: Sequence[Node],
    clients: list[str],
    steps: Steps,
    parent: pulumi.Resource,
) -> DatabaseConnection:
    by_name = {node.name: node for node in nodes}
    source, replica = by_name[database.source], by_name[database.replica]
    dialect = files.DIALECTS[database.engine]
    user_password = generated_password(f"{name}-password", parent)
    replication_password = generated_password(f"{name}-replication-password", parent)
    common = {
        **dialect.params(),
        "PORT": str(database.port),
        "SOURCE_CONFIG_FILE": files.SOURCE_CONFIG_FILE,
        "WAIT_SECONDS": str(WAIT_SECONDS),
    }
    # The replica's server changes first, the source's after it: while the source restarts for
    # a new setting, the replica is up to date and serving reads.
    servers: list[pulumi.Resource] = []
    for node, peer in ((replica, source), (source, replica)):
        servers.append(
            _server(
                name,
                node,
                database,
                common,
                steps,
                parent,
                peer=peer,
                replication_password=replication_password,
                after=servers[-1:],
            )
        )
    pair = sorted((source, replica), key=lambda node: node.name)

    # Both nodes: after a switchover the other one replicates.
    replicas = [str(node.internal_address) for node in pair]
    setup = pulumi.Output.all(user_password, replication_password).apply(
        lambda passwords: files.setup_sql(
            database.engine,
            databases=DATABASES,
            user=database.user,
            password=passwords[0],
            client_hosts=clients,
            replication_password=passwords[1],
            replica_hosts=replicas,
        )
    )
    primary = steps.step(
        f"{name}-source",
        source,
        SOURCE,
        parent=parent,
        follows_role=True,
        params={
            **common,
            "NODE_ADDRESS": str(source.internal_address),
            "SOURCE_CONFIG": files.source_config(database.engine),
            "DATABASES": " ".join(DATABASES),
            "USER": database.user,
            "CLIENT_HOSTS": " ".join(clients),
            "REPLICA_HOSTS": " ".join(replicas),
            "STALE_ACCOUNTS_SQL": files.stale_accounts_sql(
                user=database.user, client_hosts=clients, replica_hosts=replicas
            ),
        },
        stdin=pulumi.Output.format("{0}\n{1}", replication_password, setup),
        depends_on=servers,
        owns=Owned(files=(f"{dialect.config_dir}/{files.SOURCE_CONFIG_FILE}",)),
    )
    source_host = str(source.internal_address)
    following = steps.step(
        f"{name}-replica",
        replica,
        REPLICA,
        parent=parent,
        follows_role=True,
        params={
            **common,
            "NODE_ADDRESS": str(replica.internal_address),
            "NODE_NAME": replica.name,
            "DATA_DIR": files.DATA_DIR,
            "SOURCE_HOST": source_host,
            "HISTORY_QUERY": files.HISTORY_QUERY,
        },
        stdin=replication_password.apply(
            lambda password: (
                f"{password}\n"
                + files.replication_sql(
                    database.engine, source_host=source_host, port=database.port, password=password
                )
            )
        ),
        depends_on=[primary, *servers],
    )
    if database.backup.enabled:
        backup_step(
            name,
            database.backup,
            engine=database.engine,
            databases=DATABASES,
            node=replica,
            steps=steps,
            parent=parent,
            after=[following],
        )
    return _connection(database, source_host, user_password)


def _server(
    name: str,
    node: Node,
    database: ManagedDatabase,
    common: dict[str, str],
    steps: Steps,
    parent: pulumi.Resource,
    *,
    peer: Node,
    replication_password: pulumi.Output[str],
    after: list[pulumi.Resource],
) -> pulumi.Resource:
    """A node's server step. A writable server (the source) restarts for new options only once
    `peer`, its replica, has applied everything it wrote, which it asks with the replication
    login."""
    params = {**common, "DATA_DIR": files.DATA_DIR}
    dialect = files.DIALECTS[database.engine]
    if database.delete_data_on_destroy:
        # The server depends on it, so destroy removes the server first and the data after.
        # Its delete wipes the data whenever the server package is missing (as after a server
        # step that failed halfway), so it runs only when the node leaves or on destroy.
        after = [
            *after,
            steps.step(f"{name}-data-{node.name}", node, DATA, parent=parent, params=params),
        ]
    return steps.step(
        f"{name}-server-{node.name}",
        node,
        SERVER,
        parent=parent,
        params={
            **params,
            "CONFIG_FILE": files.SERVER_CONFIG_FILE,
            "CONFIG": files.server_config(
                database.engine, address=node.internal_address, port=database.port
            ),
            "PEER_ADDRESS": str(peer.internal_address),
        },
        stdin=replication_password,
        depends_on=after,
        owns=Owned(
            files=(f"{dialect.config_dir}/{files.SERVER_CONFIG_FILE}",),
            services=(dialect.service,),
        ),
    )


def _external(
    name: str, database: ExternalDatabase, node: Node, steps: Steps, parent: pulumi.Resource
) -> DatabaseConnection:
    """Checks from a cluster node that the server answers and holds both databases in utf8mb4."""
    password = database.password.get_secret_value()
    admin = database.admin_password.get_secret_value() if database.admin_password else ""
    steps.step(
        f"{name}-external",
        node,
        EXTERNAL,
        parent=parent,
        params={
            "PACKAGE": EXTERNAL_CLIENT_PACKAGE,
            "HOST": database.host,
            "PORT": str(database.port),
            "USER": database.user,
            "ADMIN_USER": database.admin_user or "",
            "DATABASES": " ".join(DATABASES),
            "CREATE_SQL": files.create_databases_sql(DATABASES),
            "CHARSET": files.CHARSET,
            "COLLATION": files.COLLATION,
            "SUPPORTED": EXTERNAL_SUPPORTED,
        },
        stdin=pulumi.Output.secret(f"{password}\n{admin}\n"),
    )
    return _connection(database, database.host, password)


def _connection(
    database: ExternalDatabase | ManagedDatabase, host: str, password: pulumi.Input[str]
) -> DatabaseConnection:
    return DatabaseConnection(
        host=pulumi.Output.from_input(host),
        port=pulumi.Output.from_input(database.port),
        user=pulumi.Output.from_input(database.user),
        password=pulumi.Output.secret(password),
    )
