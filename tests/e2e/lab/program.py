"""A Pulumi program for lab e2e tests: Preflight plus the components a test names.

The full platform needs the lab's Kubernetes API for the release; a component's own lifecycle
(up, a second up with no changes, destroy) is tested with only that component and its inputs.
Run by the language host like any program: `harness.component_stack()` writes a project whose
`__main__.py` calls `main()`.
"""

from __future__ import annotations

import pulumi

import config
from components.build import BuildNodes
from components.database import MySQLReplication
from components.gateway import GatewayVip
from components.platform import RainbondPlatform
from components.preflight import Preflight
from components.registry import ImageRegistry
from components.remote import Remote


def main() -> None:
    wanted = set(pulumi.Config("harness").require_object("components"))
    spec = config.load()
    if "platform" in wanted:
        platform = RainbondPlatform("rainbond", spec)
        pulumi.export("gatewayVip", platform.gateway_vip)
        pulumi.export("registry", platform.registry)
        pulumi.export("database", platform.database)
        return
    remote = Remote.for_cluster(spec)
    preflight = Preflight("preflight", spec, remote)
    pulumi.export("preflight", preflight.results)
    steps = remote.after(preflight.passed)
    if {"gateway", "registry"} & wanted:
        gateway = GatewayVip("gateway", spec, steps)
        pulumi.export("gatewayVip", gateway.vip)
    if "registry" in wanted:
        registry = ImageRegistry("registry", spec, gateway.vip, steps)
        pulumi.export(
            "registry",
            {
                "domain": registry.domain,
                "username": registry.username,
                "password": registry.password,
            },
        )
    if "build" in wanted:
        build = BuildNodes("build", spec, steps)
        pulumi.export("buildNodes", build.names)
    if "database" in wanted:
        database = MySQLReplication("database", spec, steps)
        if database.connection is not None:
            pulumi.export("database", vars(database.connection))
