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

from dataclasses import dataclass
from ipaddress import IPv4Network

import pulumi

from config import ClusterSpec, Node
from config.model import ExternalDatabase, ManagedDatabase

from . import database_config as files
from .drift import Owned
from .passwords import generated_password
from .remote import Remote

CONSOLE_DATABASE = "console"
REGION_DATABASE = "region"
DATABASES = [CONSOLE_DATABASE, REGION_DATABASE]
# RKE2's default pod network. Pods reach a server on their own node from their pod address (no
# address translation on that path), so with RKE2 on a database node it must be allowed.
RKE2_POD_NETWORK = IPv4Network("10.42.0.0/16")
# How long a replica may take to start replicating, and a new source to catch up.
WAIT_SECONDS = 120
EXTERNAL_CLIENT_PACKAGE = "mariadb-client"


@dataclass(frozen=True)
class DatabaseConnection:
    host: pulumi.Output[str]
    port: pulumi.Output[int]
    user: pulumi.Output[str]
    password: pulumi.Output[str]


class MySQLReplication(pulumi.ComponentResource):
    """`connection` is None in builtin mode, where Rainbond runs its own rbd-db."""

    connection: DatabaseConnection | None

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        steps: Remote,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:database:MySQLReplication", name, None, opts)
        self.connection = None
        match spec.database:
            case ExternalDatabase() as external:
                self.connection = _external(name, spec, external, steps, self)
            case ManagedDatabase() as managed:
                self.connection = _managed(name, spec, managed, steps, self)
        outputs = {} if self.connection is None else vars(self.connection)
        self.register_outputs(dict(outputs))


def client_hosts(spec: ClusterSpec, database: ManagedDatabase) -> list[str]:
    """Where the Rainbond user may log in from: the cluster's nodes and its pod network."""
    networks = list(database.client_networks)
    if spec.kubernetes.mode == "rke2":
        networks.append(RKE2_POD_NETWORK)
    return files.host_patterns([node.internal_address for node in spec.nodes], networks)


def _managed(
    name: str,
    spec: ClusterSpec,
    database: ManagedDatabase,
    steps: Remote,
    parent: pulumi.Resource,
) -> DatabaseConnection:
    source, replica = spec.node(database.source), spec.node(database.replica)
    dialect = files.DIALECTS[database.engine]
    user_password = generated_password(f"{name}-password", parent)
    replication_password = generated_password(f"{name}-replication-password", parent)
    common = {
        **dialect.params(),
        "PORT": str(database.port),
        "SOURCE_CONFIG_FILE": files.SOURCE_CONFIG_FILE,
        "WAIT_SECONDS": str(WAIT_SECONDS),
    }
    pair = sorted((source, replica), key=lambda node: node.name)
    servers = [_server(name, node, database, common, steps, parent) for node in pair]

    clients = client_hosts(spec, database)
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
        "database",
        "source",
        parent=parent,
        params={
            **common,
            # Only the connection would differ otherwise: naming the node makes a switchover
            # replace the step (the old node's delete first) instead of updating it in place.
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
    steps.step(
        f"{name}-replica",
        replica,
        "database",
        "replica",
        parent=parent,
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
    return _connection(database, source_host, user_password)


def _server(
    name: str,
    node: Node,
    database: ManagedDatabase,
    common: dict[str, str],
    steps: Remote,
    parent: pulumi.Resource,
) -> pulumi.Resource:
    params = {**common, "DATA_DIR": files.DATA_DIR}
    dialect = files.DIALECTS[database.engine]
    after: list[pulumi.Resource] = []
    if database.delete_data_on_destroy:
        # The server depends on it, so destroy removes the server first and the data after.
        # Only the data directory replaces it: a new release's scripts, another port or engine
        # update it in place, so its delete (which wipes the data whenever the server package
        # is missing, as after a server step that failed halfway) runs only when it goes away.
        after.append(
            steps.step(
                f"{name}-data-{node.name}",
                node,
                "database",
                "data",
                parent=parent,
                params=params,
                replace_on=[files.DATA_DIR],
            )
        )
    return steps.step(
        f"{name}-server-{node.name}",
        node,
        "database",
        "server",
        parent=parent,
        params={
            **params,
            "CONFIG_FILE": files.SERVER_CONFIG_FILE,
            "CONFIG": files.server_config(
                database.engine, address=node.internal_address, port=database.port
            ),
        },
        depends_on=after,
        owns=Owned(
            files=(f"{dialect.config_dir}/{files.SERVER_CONFIG_FILE}",),
            services=(dialect.service,),
        ),
    )


def _external(
    name: str,
    spec: ClusterSpec,
    database: ExternalDatabase,
    steps: Remote,
    parent: pulumi.Resource,
) -> DatabaseConnection:
    """Checks from a cluster node that the server answers and holds both databases in utf8mb4."""
    password = database.password.get_secret_value()
    admin = database.admin_password.get_secret_value() if database.admin_password else ""
    node = next(node for node in spec.nodes if node.is_kubernetes_node)
    steps.step(
        f"{name}-external",
        node,
        "database",
        "external",
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
