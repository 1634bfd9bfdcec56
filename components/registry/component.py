"""The image registry Rainbond pushes builds to, and its trust on every node."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from config import Node
from config.model import BuiltinRegistry, ExternalRegistry, ManagedRegistry, RegistrySpec

from ..shared.drift import Owned
from ..shared.passwords import generated_login, generated_password
from ..shared.remote import Scripts, Steps
from . import files
from .placement import RegistryPlacement

BUILTIN_USER = "admin"
MANAGED_USER = "rainbond"
STATE_DIR = "/var/lib/rainbond-ha/registry"
_SCRIPTS = Scripts(__file__)
TLS, CHECK, TRUST = (_SCRIPTS(name) for name in ("tls", "check", "trust"))
SERVER = _SCRIPTS("server", packages=True)


@dataclass(frozen=True)
class Served:
    """What nodes need to reach a registry, and the steps that must finish first."""

    endpoint: files.Endpoint
    # The address Rainbond is given (imageHub.domain): where it pushes and names its images.
    push_domain: str
    username: str
    password: pulumi.Output[str]
    ca_pem: pulumi.Output[str]
    names: dict[str, str]
    ready: list[pulumi.Resource]


class ImageRegistry(pulumi.ComponentResource):
    """`builtin` tells the release to keep rbd-hub (and give it `password`) instead of imageHub."""

    builtin: bool
    # Node name -> the step that makes that node trust the registry.
    trust: dict[str, pulumi.Resource]
    domain: pulumi.Output[str]
    # What Rainbond is given as its image hub; the managed registry's plain-HTTP address.
    push_domain: pulumi.Output[str]
    namespace: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        registry: RegistrySpec,
        *,
        nodes: Sequence[Node],
        server: Node | None,
        rke2: bool,
        vip: pulumi.Output[str],
        steps: Steps,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`nodes` all trust the registry; `server` runs the managed one; with `rke2` the trust
        includes RKE2's registries.yaml."""
        super().__init__("rainbond-ha:registry:ImageRegistry", name, None, opts)
        self.builtin = registry.mode == "builtin"
        if isinstance(registry, ManagedRegistry):
            assert server is not None  # validated: a node has the registry role
            served = _managed(name, registry, server, steps, self)
        elif isinstance(registry, ExternalRegistry):
            served = _external(name, registry, nodes[0], steps, self)
        else:
            # rbd-hub answers as goodrain.me behind the gateway, over http or unverified https.
            served = Served(
                endpoint=files.Endpoint(files.GOODRAIN_ME, insecure=True),
                push_domain=files.GOODRAIN_ME,
                username=BUILTIN_USER,
                password=generated_password(f"{name}-password", self),
                ca_pem=pulumi.Output.from_input(""),
                names={},
                ready=[],
            )
        self.trust = _trust_everywhere(name, nodes, served, vip, rke2, steps, self)
        self.domain = pulumi.Output.from_input(served.endpoint.domain)
        self.push_domain = pulumi.Output.from_input(served.push_domain)
        namespace = "" if isinstance(registry, BuiltinRegistry) else registry.namespace
        self.namespace = pulumi.Output.from_input(namespace)
        self.username = pulumi.Output.from_input(served.username)
        self.password = served.password
        self.register_outputs(
            {
                "domain": self.domain,
                "pushDomain": self.push_domain,
                "namespace": self.namespace,
                "username": self.username,
                "password": self.password,
            }
        )


def _managed(
    name: str, registry: ManagedRegistry, node: Node, steps: Steps, parent: pulumi.Resource
) -> Served:
    """A CA and a certificate made on the registry node, then the registry serving with them.

    Both steps follow the role: when it moves (allowed only once the images are copied, see
    placement.py), the old node's registry is removed first, its images left on its disk unless
    registry.deleteDataOnDestroy.
    """
    domain = registry.domain or f"{node.internal_address}:{registry.port}"
    username = registry.username or MANAGED_USER
    placement = RegistryPlacement(
        f"{name}-placement",
        node=node.name,
        storage="filesystem" if registry.s3 is None else "s3",
        moved_from=registry.moved_from,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    tls = steps.step(
        f"{name}-tls",
        node,
        TLS,
        parent=parent,
        depends_on=[placement],
        follows_role=True,
        params={
            "TLS_DIR": files.TLS_DIR,
            "SANS": files.subject_alt_names(domain, node.internal_address),
        },
    )
    ca_pem = tls.stdout.apply(lambda out: out.strip())
    password, bcrypt_hash = generated_login(f"{name}-password", parent)
    http_secret = generated_password(f"{name}-http-secret", parent)
    # Two listeners on one storage: TLS for the nodes, plain HTTP where Rainbond's builds push.
    configs = http_secret.apply(
        lambda secret: "---\n".join(
            files.registry_config(
                port=port, storage=_storage(registry), http_secret=secret, tls=tls
            )
            for port, tls in ((registry.port, True), (registry.http_port, False))
        )
    )
    stdin = pulumi.Output.all(password, bcrypt_hash, configs).apply(
        lambda parts: f"{parts[0]}\n{files.htpasswd_line(username, parts[1])}{parts[2]}"
    )
    build_domain = files.build_domain(domain, registry.http_port)
    server = steps.step(
        f"{name}-server",
        node,
        SERVER,
        parent=parent,
        params={
            "PORT": str(registry.port),
            "DOMAIN": domain,
            "HTTP_PORT": str(registry.http_port),
            "BUILD_DOMAIN": build_domain,
            "HTTP_SERVICE": files.HTTP_SERVICE,
            "HTTP_CONFIG_FILE": files.HTTP_CONFIG,
            "USERNAME": username,
            "CONFIG_DIR": files.CONFIG_DIR,
            "TLS_DIR": files.TLS_DIR,
            "STATE_DIR": STATE_DIR,
            "DATA_DIR": files.DATA_DIR,
            "DELETE_DATA": "true" if registry.delete_data_on_destroy else "false",
            "CA_SHA256": ca_pem.apply(lambda pem: hashlib.sha256(pem.encode()).hexdigest()),
        },
        stdin=stdin,
        depends_on=[tls],
        follows_role=True,
        owns=Owned(
            files=(
                f"{files.CONFIG_DIR}/config.yml",
                f"{files.CONFIG_DIR}/{files.HTTP_CONFIG}",
                files.HTPASSWD_FILE,
            ),
            services=("docker-registry", files.HTTP_SERVICE),
        ),
    )
    host, _ = files.split_domain(domain)
    return Served(
        endpoint=files.Endpoint(domain, ca_file=files.CA_FILE, mirrored=(build_domain,)),
        push_domain=build_domain,
        username=username,
        password=password,
        ca_pem=ca_pem,
        # A name rather than an address: it must lead to the registry node on every node.
        names={} if files.is_ip(host) else {host: str(node.internal_address)},
        ready=[server],
    )


def _storage(registry: ManagedRegistry) -> files.Filesystem | files.S3:
    if registry.s3 is None:
        return files.Filesystem()
    s3 = registry.s3
    return files.S3(
        bucket=s3.bucket,
        region=s3.region,
        access_key=s3.access_key,
        secret_key=s3.secret_key.get_secret_value(),
        region_endpoint=s3.region_endpoint,
        root_directory=s3.root_directory,
    )


def _external(
    name: str, registry: ExternalRegistry, node: Node, steps: Steps, parent: pulumi.Resource
) -> Served:
    """A registry someone else runs: checked from the first node before anything trusts it."""
    password = pulumi.Output.secret(registry.password.get_secret_value())
    check = steps.step(
        f"{name}-check",
        node,
        CHECK,
        parent=parent,
        params={
            "DOMAIN": registry.domain,
            "USERNAME": registry.username,
            "INSECURE": "true" if registry.insecure else "false",
        },
        stdin=password,
        changes_node=False,
    )
    return Served(
        endpoint=files.Endpoint(registry.domain, insecure=registry.insecure),
        push_domain=registry.domain,
        username=registry.username,
        password=password,
        ca_pem=pulumi.Output.from_input(""),
        names={},
        ready=[check],
    )


def _trust_everywhere(
    name: str,
    nodes: Sequence[Node],
    served: Served,
    vip: pulumi.Output[str],
    rke2: bool,
    steps: Steps,
    parent: pulumi.Resource,
) -> dict[str, pulumi.Resource]:
    # RKE2's registries.yaml carries the password, so it travels on stdin.
    registries = (
        served.password.apply(
            lambda password: files.rke2_registries(served.endpoint, served.username, password)
        )
        if rke2
        else None
    )
    # goodrain.me follows the VIP, not one gateway node (rainbond#866).
    hosts_lines = vip.apply(
        lambda address: files.hosts_entries({files.GOODRAIN_ME: address, **served.names})
    )
    return {
        node.name: steps.step(
            f"{name}-trust-{node.name}",
            node,
            TRUST,
            parent=parent,
            params={
                "DOMAIN": served.endpoint.domain,
                "MIRRORED": " ".join(served.endpoint.mirrored),
                "CERTS_D": files.CERTS_D,
                "HOSTS_TOML": files.hosts_toml(served.endpoint),
                "HOSTS_LINES": hosts_lines,
                "CA_FILE": files.CA_FILE,
                "CA_PEM": served.ca_pem,
                "RKE2_REGISTRIES": files.RKE2_REGISTRIES if registries is not None else "",
            },
            stdin=registries,
            depends_on=served.ready,
        )
        for node in nodes
    }
