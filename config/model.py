"""The stack configuration as typed, frozen models.

Field names are the keys of the stack YAML (camelCase aliases). This module checks the shape of
each section on its own; a section with modes is one type per mode, holding only that mode's keys.
Rules that relate sections to each other live in the `rules` package.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.alias_generators import to_camel

from . import known_hosts
from .fields import (
    CHART_REPOSITORY,
    CHART_SCHEMES,
    CHART_VERSION,
    FLANNEL_CNI_PLUGIN_IMAGE,
    FLANNEL_IMAGE,
    IMAGE_REPOSITORY,
    INSTALL_VERSION,
    KUBEADM_VERSION,
    RKE2_VERSION,
    Amount,
    ApiAddress,
    Calendar,
    ChartVersion,
    Count,
    Domain,
    Flag,
    Host,
    HostKey,
    InstallVersion,
    Interface,
    IPv4,
    KubeVersion,
    LocalPath,
    Namespace,
    Network,
    NodeName,
    NodePath,
    Port,
    Replicas,
    Rke2Version,
    RouterId,
    Secret,
    Text,
    Vip,
)


class Section(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


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

    user: Text | None = None
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
    host_key: HostKey | None = None


class Node(Section):
    # internalAddress is filled in from address before validation, so it is not required of a
    # stack file although every Node has one.
    model_config = ConfigDict(
        json_schema_extra=lambda schema: schema.update(
            required=[key for key in schema.get("required", []) if key != "internalAddress"]
        )
    )

    name: NodeName
    address: Host = Field(description="Address to reach the node over SSH: IPv4 or DNS name.")
    internal_address: IPv4 = Field(
        description="Address on the cluster network; defaults to `address` when that is an IP."
    )
    external_address: IPv4 | None = None
    roles: Annotated[list[Role], Field(min_length=1)]
    ssh: NodeSsh = NodeSsh()

    @model_validator(mode="before")
    @classmethod
    def _default_internal_address(cls, data: Any) -> Any:
        address = data.get("address") if isinstance(data, dict) else None
        if isinstance(data, dict) and "internalAddress" not in data and isinstance(address, str):
            try:
                return {**data, "internalAddress": str(IPv4Address(address))}
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
    interface: Interface
    virtual_router_id: RouterId


class EtcdS3(Section):
    """An S3-compatible bucket RKE2 also uploads each etcd snapshot to."""

    bucket: Text
    endpoint: Domain = Field(
        default="s3.amazonaws.com", description="host[:port] of the S3-compatible service."
    )
    region: Text = "us-east-1"
    folder: Text | None = None
    access_key: Text
    secret_key: Secret
    insecure: Flag = Field(default=False, description="Plain HTTP to the endpoint.")


class EtcdSnapshots(Section):
    """Every server snapshots its own etcd into its data directory."""

    schedule: Text = Field(
        default="0 */6 * * *", description="A cron expression (RKE2's etcd-snapshot-schedule-cron)."
    )
    retention: Annotated[int, Field(ge=1)] = Field(
        default=28, description="Snapshots each server keeps (and S3 keeps per server)."
    )
    s3: EtcdS3 | None = None


class KubeadmEtcdSnapshots(Section):
    """Every control plane snapshots its own etcd member into `directory`, on a systemd timer."""

    schedule: Calendar = Field(
        default="*-*-* 00/6:00:00",
        description="When every control plane snapshots its etcd: a systemd calendar event.",
    )
    retention: Count = Field(default=28, description="Snapshots each control plane keeps.")
    directory: NodePath = "/var/backups/rainbond-ha/etcd"


class InstalledKubernetes(Section):
    """What every cluster this program installs has: an API address that survives a master."""

    api_address: ApiAddress = Field(
        description="The API address agents and the kubeconfig use (VIP or load balancer),"
        " an IPv4 address with an optional /prefix or a DNS name.",
    )
    api_keepalived: ApiKeepalived | None = Field(
        default=None, description="keepalived on the masters holds apiAddress."
    )

    @property
    def api_host(self) -> str:
        """apiAddress without a /prefix."""
        return self.api_address.split("/")[0]


class Rke2Kubernetes(InstalledKubernetes):
    """RKE2 installed on the nodes, servers one at a time."""

    mode: Literal["rke2"]
    version: Rke2Version = RKE2_VERSION
    artifacts_dir: LocalPath | None = Field(
        default=None,
        description="Air-gapped: a local directory with RKE2's install.sh, release tarball,"
        " checksums and image archives, copied to every Kubernetes node.",
    )
    etcd_snapshots: EtcdSnapshots = Field(
        default_factory=EtcdSnapshots,
        description="The etcd snapshot schedule, retention and optional S3 copy.",
    )


class Flannel(Section):
    """The pod network: flannel, installed as upstream's kube-flannel.yml does."""

    image: Text = FLANNEL_IMAGE
    cni_plugin_image: Text = FLANNEL_CNI_PLUGIN_IMAGE
    backend: Literal["vxlan", "host-gw"] = Field(
        default="vxlan",
        description="vxlan works on any network; host-gw needs the nodes on one L2 segment.",
    )


class KubeadmKubernetes(InstalledKubernetes):
    """Upstream Kubernetes installed with kubeadm: control planes one at a time, then workers."""

    mode: Literal["kubeadm"]
    version: KubeVersion = KUBEADM_VERSION
    artifacts_dir: LocalPath | None = Field(
        default=None,
        description="Air-gapped: a local directory with bin/kubeadm, bin/kubelet, bin/kubectl of"
        " `version` and images/*.tar image archives, copied to every Kubernetes node.",
    )
    image_repository: Text = Field(
        default="registry.k8s.io",
        description="Where the control plane, kube-proxy, CoreDNS and pause images come from.",
    )
    etcd_image_tag: Text | None = Field(
        default=None, description="etcd's image tag; kubeadm's choice for `version` otherwise."
    )
    pod_subnet: Network = Field(default=IPv4Network("10.244.0.0/16"))
    service_subnet: Network = Field(default=IPv4Network("10.96.0.0/12"))
    cgroup_driver: Literal["systemd", "cgroupfs"] = "systemd"
    conntrack_max_per_core: Amount = Field(
        default=32768,
        description="kube-proxy's conntrack.maxPerCore; 0 leaves the kernel's table size alone.",
    )
    flannel: Flannel = Field(default_factory=Flannel)
    etcd_snapshots: KubeadmEtcdSnapshots = Field(
        default_factory=KubeadmEtcdSnapshots,
        description="The etcd snapshot schedule, retention and directory on the control planes.",
    )


class ExistingKubernetes(Section):
    """A cluster the operator already runs."""

    mode: Literal["existing"]
    kubeconfig: Secret | None = None
    kubeconfig_path: LocalPath | None = None
    containerd_runtime_path: Text = Field(
        default="/run/containerd", description="containerd's runtime directory on the nodes."
    )


KubernetesSpec = Annotated[
    Rke2Kubernetes | KubeadmKubernetes | ExistingKubernetes, Field(discriminator="mode")
]


class KeepalivedGateway(Section):
    """The gateway nodes share a VIP that keepalived moves between them."""

    mode: Literal["keepalived"]
    vip: Vip = Field(description="The VIP, optionally with the subnet prefix.")
    interface: Interface
    virtual_router_id: RouterId
    check_ports: tuple[Port, ...] = Field(
        default=(80, 443),
        min_length=1,
        description="TCP ports the local gateway must accept (on 127.0.0.1) for its node to keep"
        " the VIP, once they have answered there.",
    )

    @property
    def ingress_address(self) -> str:
        """Where users reach the gateway."""
        return str(self.vip.ip)


class ExternalGateway(Section):
    """A load balancer the operator runs in front of the gateway nodes."""

    mode: Literal["external"]
    address: IPv4 = Field(description="The load balancer in front of the gateway nodes.")

    @property
    def ingress_address(self) -> str:
        return str(self.address)


GatewaySpec = Annotated[KeepalivedGateway | ExternalGateway, Field(discriminator="mode")]


class RegistryS3(Section):
    """An S3-compatible bucket for the managed registry's images, instead of the node's disk."""

    bucket: Text
    region: Text
    region_endpoint: Text | None = Field(
        default=None, description="The endpoint URL of an S3-compatible service (MinIO, Ceph)."
    )
    access_key: Text
    secret_key: Secret
    root_directory: Text = "/"


class BuiltinRegistry(Section):
    """Rainbond's own rbd-hub behind goodrain.me."""

    mode: Literal["builtin"]


class ExternalRegistry(Section):
    """A registry the operator runs (Harbor, a cloud registry)."""

    mode: Literal["external"]
    domain: Domain
    namespace: Text = "rainbond"
    username: Text
    password: Secret
    insecure: Flag = Field(
        default=False, description="The registry speaks plain HTTP or has no trusted CA."
    )


class ManagedRegistry(Section):
    """One registry on the node with the role registry."""

    mode: Literal["managed"]
    domain: Domain | None = None
    namespace: Text = "rainbond"
    username: Text | None = None
    port: Port = Field(default=5000, description="The port the registry listens on, over TLS.")
    http_port: Port = Field(
        default=5080,
        description="The registry's plain-HTTP port: where Rainbond's builds push (its BuildKit"
        " speaks only plain HTTP to the image hub).",
    )
    s3: RegistryS3 | None = None
    delete_data_on_destroy: Flag = Field(
        default=False, description="`pulumi destroy` also deletes the images on disk."
    )
    moved_from: NodeName | None = Field(
        default=None,
        description="The node the role registry had before, once its images are copied to the"
        " new one (docs/operations.md, 'Moving the registry'); without it, moving the role is"
        " refused while the images are on the old node's disk.",
    )


RegistrySpec = Annotated[
    BuiltinRegistry | ExternalRegistry | ManagedRegistry, Field(discriminator="mode")
]


class BuiltinDatabase(Section):
    """Rainbond's own single rbd-db pod."""

    mode: Literal["builtin"]


class ExternalDatabase(Section):
    """A server the operator runs, with or without the two databases created."""

    mode: Literal["external"]
    host: Host
    port: Port = 3306
    user: Text = "rainbond"
    password: Secret
    admin_user: Text | None = Field(
        default=None, description="An account that may create the two databases."
    )
    admin_password: Secret | None = None


class BackupCopy(Section):
    """Where each backup run copies the backup directory to, with rsync over SSH."""

    host: Host
    port: Port = 22
    user: Text = "root"
    path: NodePath
    private_key: Secret = Field(description="The SSH key that logs in there (a secret).")
    host_key: HostKey = Field(description="That host's key, as one line of `ssh-keyscan`.")


class DatabaseBackup(Section):
    """Logical backups of `console` and `region`, taken on the replica by a systemd timer."""

    enabled: Flag = True
    schedule: Calendar = Field(
        default="*-*-* 02:00:00", description="When backups run: a systemd calendar event."
    )
    keep: Count = Field(default=7, description="How many backups the directory keeps.")
    max_age_days: Count = Field(
        default=30, description="Backups older than this go, the newest always stays."
    )
    directory: NodePath = "/var/backups/rainbond-ha/database"
    copy_to: BackupCopy | None = None


class ManagedDatabase(Section):
    """A source and a replica on the two nodes with the role mysql."""

    mode: Literal["managed"]
    engine: Literal["mysql", "mariadb"] = "mariadb"
    source: NodeName
    replica: NodeName
    port: Port = 3306
    user: Text = "rainbond"
    client_networks: list[Network] = Field(
        default_factory=list,
        description="Networks besides the nodes' internal addresses (and RKE2's pod network)"
        " from which the Rainbond user may log in.",
    )
    delete_data_on_destroy: Flag = Field(
        default=False, description="`pulumi destroy` also deletes the data directories."
    )
    backup: DatabaseBackup = DatabaseBackup()


DatabaseSpec = Annotated[
    BuiltinDatabase | ExternalDatabase | ManagedDatabase, Field(discriminator="mode")
]


class RainbondSpec(Section):
    chart: LocalPath = Field(
        default=CHART_REPOSITORY,
        description="A chart repository URL, or a local chart .tgz for air-gapped installs.",
    )
    chart_version: ChartVersion = CHART_VERSION
    install_version: InstallVersion = INSTALL_VERSION
    image_repository: Text = IMAGE_REPOSITORY
    replicas: Replicas = 2
    namespace: Namespace = "rbd-system"
    http_domain: Host | None = Field(
        default=None,
        description="The wildcard DNS domain applications get HTTP names under"
        " (`*.<httpDomain>` must resolve to the gateway); unset, Rainbond uses <VIP>.nip.io.",
    )
    values: dict[str, Any] = Field(
        default_factory=dict, description="Extra Helm values, merged last."
    )
    wait: Flag = Field(
        default=True,
        description="`pulumi up` waits until the release's workloads are ready (helm --wait).",
    )

    @property
    def chart_is_repository(self) -> bool:
        return self.chart.startswith(CHART_SCHEMES)


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
    min_memory_mib: Amount = 4096
    min_disk_gib: Amount = 40
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
