"""A Pulumi program for lab e2e tests: Preflight plus the components a test names.

The full platform needs the lab's Kubernetes API for the release; a component's own lifecycle
(up, a second up with no changes, destroy) is tested with only that component and its inputs,
built by the platform's own phases. Run by the language host like any program:
`harness.component_stack()` writes a project whose `__main__.py` calls `main()`.
"""

from __future__ import annotations

import pulumi

import config
from components import platform


def main() -> None:
    wanted = set(pulumi.Config("harness").require_object("components"))
    spec = config.load()
    if "platform" in wanted:
        whole = platform.RainbondPlatform("rainbond", spec)
        pulumi.export("gatewayVip", whole.gateway_vip)
        pulumi.export("registry", whole.registry)
        pulumi.export("database", whole.database)
        pulumi.export("kubeconfig", whole.kubeconfig)
        return
    top = pulumi.ResourceOptions()
    preflight, steps = platform.preflight_phase(spec, top)
    pulumi.export("preflight", preflight.results)
    if {"gateway", "registry"} & wanted:
        gateway = platform.gateway_phase(spec, steps, top)
        pulumi.export("gatewayVip", gateway.vip)
    if "registry" in wanted:
        registry = platform.registry_phase(spec, gateway, steps, top)
        pulumi.export(
            "registry",
            {
                "domain": registry.domain,
                "pushDomain": registry.push_domain,
                "username": registry.username,
                "password": registry.password,
            },
        )
    if "build" in wanted:
        build = platform.build_phase(spec, steps, top)
        pulumi.export("buildNodes", build.names)
    if "database" in wanted:
        # The lab's Kubernetes is an existing cluster: no pod network to allow.
        database = platform.database_phase(spec, None, steps, top)
        if database.connection is not None:
            pulumi.export("database", database.connection.outputs())
