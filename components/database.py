"""The MySQL/MariaDB server Rainbond's console and region use: builtin, external or managed."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from config import ClusterSpec
from config.model import DatabaseSpec

from .passwords import generated_password
from .remote import Remote

CONSOLE_DATABASE = "console"
REGION_DATABASE = "region"


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
        database = spec.database
        self.connection = None
        if database.mode == "external":
            assert database.host and database.password  # validated
            self.connection = _connection(
                database, database.host, database.password.get_secret_value()
            )
        elif database.mode == "managed":
            assert database.source and database.replica  # validated
            source = spec.node(database.source)
            user_password = generated_password(f"{name}-password", self)
            replication_password = generated_password(f"{name}-replication-password", self)
            common = {"ENGINE": database.engine, "PORT": str(database.port)}
            primary = steps.step(
                f"{name}-source",
                source,
                "database",
                "source",
                parent=self,
                params={
                    **common,
                    "SERVER_ID": "1",
                    "USER": database.user,
                    "DATABASES": f"{CONSOLE_DATABASE} {REGION_DATABASE}",
                },
                stdin=pulumi.Output.format("{0}\n{1}\n", user_password, replication_password),
            )
            steps.step(
                f"{name}-replica",
                spec.node(database.replica),
                "database",
                "replica",
                parent=self,
                params={**common, "SERVER_ID": "2", "SOURCE_HOST": str(source.internal_address)},
                stdin=replication_password,
                depends_on=[primary],
            )
            self.connection = _connection(database, str(source.internal_address), user_password)
        outputs = {} if self.connection is None else vars(self.connection)
        self.register_outputs(dict(outputs))


def _connection(
    database: DatabaseSpec, host: str, password: pulumi.Input[str]
) -> DatabaseConnection:
    return DatabaseConnection(
        host=pulumi.Output.from_input(host),
        port=pulumi.Output.from_input(database.port),
        user=pulumi.Output.from_input(database.user),
        password=pulumi.Output.secret(password),
    )
