"""RKE2's /etc/rancher/rke2/config.yaml for servers and agents: pure functions of the stack config.

No secret appears here: the step writes the cluster token from stdin into a 0600 file that
config.yaml names with `token-file`, and the etcd S3 secret key into a 0600 drop-in
(`config.yaml.d/`, which RKE2 merges after config.yaml), so config.yaml and the step's command
line hold none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

SUPERVISOR_PORT = 9345  # where servers and agents register; the API itself is on 6443
TOKEN_FILE = "/etc/rancher/rke2/cluster-token"
# RKE2 reads config.yaml.d/*.yaml after config.yaml (docs.rke2.io/install/configuration,
# "Multiple Config Files"); the S3 secret key lives in a 0600 file of its own there.
S3_SECRET_FILE = "/etc/rancher/rke2/config.yaml.d/50-etcd-s3-secret.yaml"
# Where air-gapped artifacts (install.sh, the tarball, its checksums and image archives) are put.
ARTIFACTS_DIR = "/var/lib/rancher/rke2-artifacts"
# Rainbond's gateway binds 80/443 on the gateway nodes (hostNetwork); RKE2's bundled
# ingress-nginx would hold them on every node (hostPort). Rainbond's own RKE2 installer disables
# it the same way (rainbond-console script/install-cluster.sh, `disable: rke2-ingress-nginx`).
DISABLED_CHARTS = ("rke2-ingress-nginx",)


@dataclass(frozen=True)
class Snapshots:
    """RKE2's etcd snapshot settings (every server snapshots its own etcd into
    /var/lib/rancher/rke2/server/db/snapshots; with S3 each one is uploaded as well)."""

    schedule: str
    retention: int
    s3_bucket: str | None = None
    s3_endpoint: str = "s3.amazonaws.com"
    s3_region: str = "us-east-1"
    s3_folder: str | None = None
    s3_access_key: str | None = None
    s3_insecure: bool = False

    def options(self) -> dict[str, object]:
        """The server flags (pkg/cli/cmds/server.go in rancher/rke2: etcd-snapshot-*,
        etcd-s3-*), without the secret key."""
        options: dict[str, object] = {
            "etcd-snapshot-schedule-cron": self.schedule,
            "etcd-snapshot-retention": self.retention,
        }
        if self.s3_bucket is not None:
            options.update(
                {
                    "etcd-s3": True,
                    "etcd-s3-bucket": self.s3_bucket,
                    "etcd-s3-endpoint": self.s3_endpoint,
                    "etcd-s3-region": self.s3_region,
                    "etcd-s3-access-key": self.s3_access_key,
                }
            )
            if self.s3_folder:
                options["etcd-s3-folder"] = self.s3_folder
            if self.s3_insecure:
                options["etcd-s3-insecure"] = True
        return options


def registration_url(address: str) -> str:
    return f"https://{address}:{SUPERVISOR_PORT}"


def server_config(*, node_name: str, node_ip: str, api_address: str, snapshots: Snapshots) -> str:
    """A server's config. Every server, the first included, names the fixed registration address
    (`server:`): a server only initialises a new cluster when its node step decides it may
    (scripts/rke2.sh, docs/kubernetes.md "One cluster"), and then runs without that line once.
    RKE2 ignores `server` on a node that already holds etcd data (it restarts its member)."""
    config: dict[str, object] = {
        "node-name": node_name,
        "node-ip": node_ip,
        "token-file": TOKEN_FILE,
        "server": registration_url(api_address),
        # The API's certificate must name the address clients use, or they refuse it.
        "tls-san": [api_address],
        "write-kubeconfig-mode": "0600",
        "disable": list(DISABLED_CHARTS),
        **snapshots.options(),
    }
    return yaml.safe_dump(config, sort_keys=False)


def s3_secret_config(secret_key: str) -> str:
    """The drop-in holding the S3 secret key, on one line: it travels as one line of the step's
    stdin (empty when there is no S3 target)."""
    if not secret_key:
        return ""
    line = yaml.safe_dump({"etcd-s3-secret-key": secret_key}, width=1 << 30).rstrip("\n")
    if "\n" in line:
        raise ValueError("the etcd S3 secret key must be one line")
    return line


def agent_config(*, node_name: str, node_ip: str, server_address: str) -> str:
    config = {
        "node-name": node_name,
        "node-ip": node_ip,
        "token-file": TOKEN_FILE,
        "server": registration_url(server_address),
    }
    return yaml.safe_dump(config, sort_keys=False)


def bootstrap_server(masters: Sequence[str]) -> str:
    """The one server that may initialise the cluster when none exists yet: the first listed."""
    return masters[0]
