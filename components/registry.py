"""The image registry Rainbond pushes builds to, and its trust on every node."""

from __future__ import annotations

import pulumi

from config import ClusterSpec, Role

from .passwords import generated_password
from .remote import Remote

# Rainbond's own registry (rbd-hub) answers as goodrain.me behind the gateway.
BUILTIN_DOMAIN = "goodrain.me"
BUILTIN_USER = "admin"
MANAGED_USER = "rainbond"


class ImageRegistry(pulumi.ComponentResource):
    """`builtin` tells the release to keep rbd-hub (and give it `password`) instead of imageHub."""

    builtin: bool
    domain: pulumi.Output[str]
    namespace: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        vip: pulumi.Output[str],
        steps: Remote,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:registry:ImageRegistry", name, None, opts)
        registry = spec.registry
        self.builtin = registry.mode == "builtin"
        if registry.mode == "external":
            assert registry.domain and registry.username and registry.password  # validated
            domain, username = registry.domain, registry.username
            password = pulumi.Output.secret(registry.password.get_secret_value())
        else:
            password = generated_password(f"{name}-password", self)
        server: list[pulumi.Resource] = []
        if registry.mode == "builtin":
            domain, username = BUILTIN_DOMAIN, BUILTIN_USER
        elif registry.mode == "managed":
            host = spec.with_role(Role.REGISTRY)[0]
            domain = registry.domain or f"{host.internal_address}:{registry.port}"
            username = registry.username or MANAGED_USER
            server.append(
                steps.step(
                    f"{name}-server",
                    host,
                    "registry",
                    "server",
                    parent=self,
                    params={"PORT": str(registry.port), "USERNAME": username},
                    stdin=password,
                )
            )
        # Rainbond's builtin hub and the managed registry speak plain HTTP.
        insecure = registry.insecure or registry.mode != "external"
        for node in spec.nodes:
            steps.step(
                f"{name}-trust-{node.name}",
                node,
                "registry",
                "trust",
                parent=self,
                params={
                    "DOMAIN": domain,
                    "USERNAME": username,
                    "INSECURE": "true" if insecure else "false",
                    # goodrain.me must follow the VIP, not one gateway node (rainbond#866).
                    "VIP": vip,
                },
                stdin=password,
                depends_on=server,
            )
        self.domain = pulumi.Output.from_input(domain)
        self.namespace = pulumi.Output.from_input("" if self.builtin else registry.namespace)
        self.username = pulumi.Output.from_input(username)
        self.password = password
        self.register_outputs(
            {
                "domain": self.domain,
                "namespace": self.namespace,
                "username": self.username,
                "password": self.password,
            }
        )
