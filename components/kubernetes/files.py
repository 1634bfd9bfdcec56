"""RKE2's /etc/rancher/rke2/config.yaml for servers and agents: pure functions of the stack config.

The cluster token never appears here: the step writes it from stdin into a 0600 file that
config.yaml names with `token-file`, so config.yaml (and the step's command line) holds no secret.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

SUPERVISOR_PORT = 9345  # where servers and agents register; the API itself is on 6443
TOKEN_FILE = "/etc/rancher/rke2/cluster-token"
# Where air-gapped artifacts (install.sh, the tarball, its checksums and image archives) are put.
ARTIFACTS_DIR = "/var/lib/rancher/rke2-artifacts"


def registration_url(address: str) -> str:
    return f"https://{address}:{SUPERVISOR_PORT}"


def server_config(
    *, node_name: str, node_ip: str, api_address: str, join_address: str | None
) -> str:
    """A server's config; the first server (join_address None) starts the cluster."""
    config: dict[str, object] = {
        "node-name": node_name,
        "node-ip": node_ip,
        "token-file": TOKEN_FILE,
        # The API's certificate must name the address clients use, or they refuse it.
        "tls-san": [api_address],
        "write-kubeconfig-mode": "0600",
    }
    if join_address is not None:
        config["server"] = registration_url(join_address)
    return yaml.safe_dump(config, sort_keys=False)


def agent_config(*, node_name: str, node_ip: str, server_address: str) -> str:
    config = {
        "node-name": node_name,
        "node-ip": node_ip,
        "token-file": TOKEN_FILE,
        "server": registration_url(server_address),
    }
    return yaml.safe_dump(config, sort_keys=False)


def join_order(masters: Sequence[str]) -> list[tuple[str, str | None]]:
    """(server, the server it joins): the first starts the cluster, every other joins the first."""
    first = masters[0]
    return [(name, None if name == first else first) for name in masters]
