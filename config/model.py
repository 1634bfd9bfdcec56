"""The stack configuration as typed, frozen models.

Field names are the keys of the stack YAML (camelCase aliases). This module checks the shape of
each section on its own; rules that relate sections or depend on the mode live in `rules.py`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from . import known_hosts

# Pinned versions: this is the one place they are set.
RKE2_VERSION = "v1.30.4+rke2r1"  # what Rainbond's own host installer uses
CHART_REPOSITORY = "https://chart.rainbond.com"
CHART_VERSION = "6.9.3"
INSTALL_VERSION = "v6.9.3-release"
IMAGE_REPOSITORY = "registry.cn-hangzhou.aliyuncs.com/goodrain"

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOST_KEY = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+$")
_URL_SCHEMES = ("http://", "https://", "oci://")


class Section(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


def _node_name(value: str) -> str:
    if len(value) > 253 or not _DNS1123.match(value):
        raise ValueError(
            f"{value!r} is not a DNS-1123 name; use the Kubernetes node name: lower-case letters,"
            " digits, '-' and '.'"
        )
    return value


NodeName = Annotated[str, AfterValidator(_node_name)]


def _secret(value: Any, info: ValidationInfo) -> Any:
    # A stack file holds secrets as `{secure: <ciphertext>}`; only the engine can decrypt them, so
    # `config check` accepts the mapping as "present" and never looks inside.
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SecretStr(str(value["secure"]))
    if isinstance(value, str) and info.context and info.context.get("stack_file"):
        raise ValueError(
            "is stored in plain text; encrypt it with `pulumi config set --secret --path`"
        )
    return value


Secret = Annotated[
    SecretStr,
    BeforeValidator(_secret),
    WithJsonSchema(
        {
            "description": "A secret: `pulumi config set --secret --path <key> <value>`.",
            "type": "object",
            "properties": {"secure": {"type": "string"}},
            "required": ["secure"],
        }
    ),
]


def _local_path(value: str, info: ValidationInfo) -> str:
    # Relative paths are relative to the project root (the folder of Pulumi.yaml), so a stack
    # behaves the same whatever the current directory is.
    if value.startswith(_URL_SCHEMES):
        return value
    root = Path(info.context["root"]) if info.context and "root" in info.context else Path.cwd()
    return str((root / Path(value).expanduser()).resolve())


LocalPath = Annotated[str, AfterValidator(_local_path)]


def _version(pattern: str, example: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not a version; use one like {example}")
        return value

    return AfterValidator(check)


Rke2Version = Annotated[str, _version(r"v\d+\.\d+\.\d+\+rke2r\d+", RKE2_VERSION)]
ChartVersion = Annotated[str, _version(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", CHART_VERSION)]
InstallVersion = Annotated[str, _version(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", INSTALL_VERSION)]
Port = Annotated[int, Field(ge=1, le=65535)]
RouterId = Annotated[int, Field(ge=1, le=255)]


def _host_key(value: str) -> str:
    if not _HOST_KEY.match(value):
        raise ValueError(
            "is not an OpenSSH public host key; use one line of `ssh-keyscan`, e.g."
            " 'ssh-ed25519 AAAA...', without the host name"
        )
    return value


class Role(StrEnum):
    MASTER = "master"
    WORKER = "worker"
    GATEWAY = "gateway"
    BUILD = "build"
    MYSQL = "mysql"
    REGISTRY = "registry"


# Roles that make a node a Kubernetes node; `mysql` and `registry` alone do not.
KUBERNETES_ROLES = frozenset({Role.MASTER, Role.WORKER, Role.GATEWAY, Role.BUILD})


class SshOptions(Section):
    """How to log in over SSH; `rainbond-ha:ssh` holds the defaults, a node may override them."""

    user: str | None = None
    port: Port | None = None
    private_key_file: LocalPath | None = None
    private_key: Secret | None = None


class SshDefaults(SshOptions):
    known_hosts_file: LocalPath | None = Field(
        default=None,
        description="An OpenSSH known_hosts file; each node without its own hostKey is pinned to"
        " the key the file holds for its address or name.",
    )


class NodeSsh(SshOptions):
    host_key: Annotated[str, AfterValidator(_host_key)] | None = None


class Node(Section):
    name: NodeName
    address: str = Field(min_length=1, description="Address to reach the node over SSH.")
    internal_address: IPv4Address = Field(
        description="Address on the cluster network; defaults to `address` when that is an IP."
    )
    external_address: IPv4Address | None = None
    roles: Annotated[list[Role], Field(min_length=1)]
    ssh: NodeSsh = NodeSsh()

    @model_validator(mode="before")
    @classmethod
    def _default_internal_address(cls, data: Any) -> Any:
        if isinstance(data, dict) and "internalAddress" not in data:
            try:
                return {**data, "internalAddress": str(IPv4Address(data.get("address")))}
            except ValueError:
                pass
        return data

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_kubernetes_node(self) -> bool:
        return not KUBERNETES_ROLES.isdisjoint(self.roles)

    @property
    def external_ip(self) -> IPv4Address:
        return self.external_address or self.internal_address


class ApiKeepalived(Section):
    interface: str = Field(min_length=1)
    virtual_router_id: RouterId


class EtcdS3(Section):
    """An S3-compatible bucket RKE2 also uploads each etcd snapshot to."""

    bucket: str = Field(min_length=1)
    endpoint: str = Field(default="s3.amazonaws.com", min_length=1)
    region: str = "us-east-1"
    folder: str | None = None
    access_key: str = Field(min_length=1)
    secret_key: Secret
    insecure: bool = Field(default=False, description="Plain HTTP to the endpoint.")


class EtcdSnapshots(Section):
    """rke2: etcd snapshots, taken by every server into its own data directory."""

    schedule: str = Field(
        default="0 */6 * * *",
        min_length=1,
        description="A cron expression (RKE2's etcd-snapshot-schedule-cron).",
    )
    retention: Annotated[int, Field(ge=1)] = Field(
        default=28, description="Snapshots each server keeps (and S3 keeps per server)."
    )
    s3: EtcdS3 | None = None


class KubernetesSpec(Section):
    mode: Literal["rke2", "existing"]
    version: Rke2Version = RKE2_VERSION
    api_address: str | None = Field(
        default=None,
        description="rke2: the API address agents and the kubeconfig use (VIP or load balancer),"
        " an IPv4 address with an optional /prefix or a DNS name.",
    )
    api_keepalived: ApiKeepalived | None = Field(
        default=None, description="rke2: keepalived on the masters holds apiAddress."
    )
    artifacts_dir: LocalPath | None = Field(
        default=None,
        description="rke2, air-gapped: a local directory with RKE2's install.sh, release tarball,"
        " checksums and image archives, copied to every Kubernetes node.",
    )
    etcd_snapshots: EtcdSnapshots = Field(
        default_factory=EtcdSnapshots,
        description="rke2: the etcd snapshot schedule, retention and optional S3 copy.",
    )
    kubeconfig: Secret | None = None
    kubeconfig_path: LocalPath | None = None
    containerd_runtime_path: str = Field(
        default="/run/containerd",
        description="existing: containerd's runtime directory on the nodes (RKE2 is fixed).",
    )

    @property
    def api_host(self) -> str:
        """apiAddress without a /prefix (rke2; set once the config is valid)."""
        assert self.api_address is not None
        return self.api_address.split("/")[0]


class GatewaySpec(Section):
    mode: Literal["keepalived", "external"]
    vip: IPv4Interface | None = Field(
        default=None, description="keepalived: the VIP, optionally with the subnet prefix."
    )
    interface: str | None = None
    virtual_router_id: RouterId | None = None
    check_ports: tuple[Port, ...] = Field(
        default=(80, 443),
        min_length=1,
        description="keepalived: TCP ports the local gateway must accept (on 127.0.0.1) for its"
        " node to keep the VIP, once they have answered there.",
    )
    address: IPv4Address | None = Field(
        default=None, description="external: the load balancer in front of the gateway nodes."
    )

    @property
    def ingress_address(self) -> str:
        """Where users reach the gateway: the VIP or the load balancer (set once valid)."""
        address = self.vip.ip if self.mode == "keepalived" and self.vip else self.address
        assert address is not None
        return str(address)


class RegistryS3(Section):
    """An S3-compatible bucket for the managed registry's images, instead of the node's disk."""

    bucket: str = Field(min_length=1)
    region: str = Field(min_length=1)
    region_endpoint: str | None = Field(
        default=None, description="The endpoint URL of an S3-compatible service (MinIO, Ceph)."
    )
    access_key: str = Field(min_length=1)
    secret_key: Secret
    root_directory: str = "/"


class RegistrySpec(Section):
    mode: Literal["builtin", "external", "managed"]
    domain: str | None = None
    namespace: str = "rainbond"
    username: str | None = None
    password: Secret | None = None
    insecure: bool = Field(
        default=False, description="external: the registry speaks plain HTTP or has no trusted CA."
    )
    port: Port = Field(default=5000, description="managed: the port the registry listens on.")
    s3: RegistryS3 | None = None
    delete_data_on_destroy: bool = Field(
        default=False, description="managed: `pulumi destroy` also deletes the images on disk."
    )


class DatabaseSpec(Section):
    mode: Literal["builtin", "external", "managed"]
    engine: Literal["mysql", "mariadb"] = "mariadb"
    source: NodeName | None = None
    replica: NodeName | None = None
    host: str | None = None
    port: Port = 3306
    user: str = "rainbond"
    password: Secret | None = None
    admin_user: str | None = Field(
        default=None, description="external: an account that may create the two databases."
    )
    admin_password: Secret | None = None
    client_networks: list[IPv4Network] = Field(
        default_factory=list,
        description="managed: networks besides the nodes' internal addresses (and RKE2's pod"
        " network) from which the Rainbond user may log in.",
    )
    delete_data_on_destroy: bool = Field(
        default=False, description="managed: `pulumi destroy` also deletes the data directories."
    )


class RainbondSpec(Section):
    chart: LocalPath = Field(
        default=CHART_REPOSITORY,
        description="A chart repository URL, or a local chart .tgz for air-gapped installs.",
    )
    chart_version: ChartVersion = CHART_VERSION
    install_version: InstallVersion = INSTALL_VERSION
    image_repository: str = IMAGE_REPOSITORY
    replicas: Annotated[int, Field(ge=1)] = 2
    namespace: NodeName = "rbd-system"
    http_domain: str | None = Field(
        default=None,
        pattern=_DNS1123.pattern,
        description="The wildcard DNS domain applications get HTTP names under"
        " (`*.<httpDomain>` must resolve to the gateway); unset, Rainbond uses <VIP>.nip.io.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict, description="Extra Helm values, merged last."
    )

    @property
    def chart_is_repository(self) -> bool:
        return self.chart.startswith(_URL_SCHEMES)


class PreflightCheck(StrEnum):
    """The checks preflight runs on every node; `preflight.skip` names the ones to leave out."""

    SUDO = "sudo"
    OS = "os"
    ARCH = "arch"
    KERNEL = "kernel"
    HOSTNAME = "hostname"
    UNIQUE_HOSTNAME = "unique-hostname"
    MACHINE_ID = "machine-id"
    CLOCK = "clock"
    SWAP = "swap"
    MEMORY = "memory"
    DISK = "disk"
    PORTS = "ports"
    VRRP = "vrrp"


class PreflightSpec(Section):
    min_memory_mib: Annotated[int, Field(ge=0)] = 4096
    min_disk_gib: Annotated[int, Field(ge=0)] = 40
    skip: list[PreflightCheck] = Field(
        default_factory=list, description="Checks to leave out, for operators who know why."
    )


class SshSettings(Section):
    """The SSH settings in effect for one node, defaults applied."""

    user: str
    port: int
    private_key_file: str | None
    private_key: SecretStr | None
    host_key: str | None


class ClusterSpec(Section):
    nodes: Annotated[list[Node], Field(min_length=1)]
    ssh: SshDefaults = SshDefaults()
    kubernetes: KubernetesSpec
    gateway: GatewaySpec
    registry: RegistrySpec
    database: DatabaseSpec
    rainbond: RainbondSpec = RainbondSpec()
    preflight: PreflightSpec = PreflightSpec()

    def with_role(self, role: Role) -> list[Node]:
        return [node for node in self.nodes if node.has(role)]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    @cached_property
    def logins(self) -> dict[str, SshSettings]:
        """Node name -> its SSH settings, defaults applied and host keys resolved once."""
        entries = (
            known_hosts.parse(Path(self.ssh.known_hosts_file).read_text())
            if self.ssh.known_hosts_file is not None
            else []
        )
        resolved = {}
        for node in self.nodes:
            settings = ssh_settings(node, self.ssh)
            if settings.host_key is None and self.ssh.known_hosts_file is not None:
                # Validation has checked that the file holds a key for every such node.
                pinned = known_hosts.host_key(entries, (node.address, node.name), settings.port)
                settings = settings.model_copy(update={"host_key": pinned})
            resolved[node.name] = settings
        return resolved

    def ssh_for(self, node: Node) -> SshSettings:
        return self.logins[node.name]


def ssh_settings(node: Node, defaults: SshOptions) -> SshSettings:
    own = node.ssh
    # A node's own key, in either form, replaces both default forms.
    key_owner = own if own.private_key_file or own.private_key else defaults
    return SshSettings(
        user=own.user or defaults.user or "root",
        port=own.port or defaults.port or 22,
        private_key_file=key_owner.private_key_file,
        private_key=key_owner.private_key,
        host_key=own.host_key,
    )
