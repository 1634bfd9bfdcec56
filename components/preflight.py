"""Facts and checks on every node before anything on a node is changed."""

from __future__ import annotations

import pulumi

from config import ClusterSpec, Role

from .remote import Remote

# Host ports Rainbond's gateway binds (hostNetwork): HTTP, HTTPS, websocket, console, API, health.
GATEWAY_PORTS = (80, 443, 6060, 7070, 8443, 8889)


class Preflight(pulumi.ComponentResource):
    """Every step that changes a node depends on this component (see `Remote.after`)."""

    facts: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        remote: Remote,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:preflight:Preflight", name, None, opts)
        checks = spec.preflight
        self.facts = {}
        for node in spec.nodes:
            ports = node.has(Role.GATEWAY) and checks.check_ports
            step = remote.step(
                f"{name}-{node.name}",
                node,
                "preflight",
                "check",
                parent=self,
                changes_node=False,
                params={
                    "NODE_NAME": node.name,
                    "MIN_MEMORY_MIB": str(checks.min_memory_mib),
                    "MIN_DISK_GIB": str(checks.min_disk_gib),
                    "FREE_PORTS": " ".join(map(str, GATEWAY_PORTS)) if ports else "",
                },
            )
            self.facts[node.name] = step.stdout
        self.register_outputs({"facts": self.facts})
