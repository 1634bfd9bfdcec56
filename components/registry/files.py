"""Files the registry and its trust put on nodes, as pure functions returning their text.

Paths are the ones the scripts in `scripts/registry/` use; the registry runs as Debian's
`docker-registry` service, which reads `/etc/docker/registry/config.yml`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address

import yaml

CONFIG_DIR = "/etc/docker/registry"
TLS_DIR = f"{CONFIG_DIR}/tls"
HTPASSWD_FILE = f"{CONFIG_DIR}/htpasswd"
# The second instance, plain HTTP on the same storage: a unit of ours beside Debian's.
HTTP_CONFIG = "config-http.yml"
HTTP_SERVICE = "rainbond-ha-registry-http"
DATA_DIR = "/var/lib/docker-registry"
# One file serves the trust store (update-ca-certificates), containerd and RKE2.
CA_FILE = "/usr/local/share/ca-certificates/rainbond-ha-registry.crt"
CERTS_D = "/etc/containerd/certs.d"
RKE2_REGISTRIES = "/etc/rancher/rke2/registries.yaml"
# Rainbond's own hub name; its operator points it at one gateway node (rainbond#866).
GOODRAIN_ME = "goodrain.me"
REALM = "rainbond-registry"


@dataclass(frozen=True)
class Filesystem:
    """Images on the registry node's disk: one instance only."""

    root_directory: str = DATA_DIR


@dataclass(frozen=True)
class S3:
    """An S3-compatible bucket: instances sharing it (and http.secret) can run side by side."""

    bucket: str
    region: str
    access_key: str
    secret_key: str
    region_endpoint: str | None = None
    root_directory: str = "/"


def split_domain(domain: str) -> tuple[str, int | None]:
    """`host[:port]` as images name the registry."""
    host, _, port = domain.rpartition(":") if ":" in domain else (domain, "", "")
    return host, int(port) if port else None


def is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def build_domain(domain: str, http_port: int) -> str:
    """Where Rainbond's builds push: the registry's host, on its plain-HTTP listener's port."""
    host, _ = split_domain(domain)
    return f"{host}:{http_port}"


def subject_alt_names(domain: str, address: IPv4Address) -> str:
    """The names the server certificate must carry: the domain's host and the node's address."""
    host, _ = split_domain(domain)
    names = [f"IP:{address}"]
    if host != str(address):
        names.append(f"IP:{host}" if is_ip(host) else f"DNS:{host}")
    return ",".join(names)


def registry_config(
    *, port: int, storage: Filesystem | S3, http_secret: str, tls: bool = True
) -> str:
    """config.yml for Distribution 2.8: TLS (or plain HTTP), htpasswd auth, the chosen storage.

    http.secret signs upload state; instances sharing a storage must share it, so it is set
    even for one instance (a restart then keeps uploads in progress valid). The plain-HTTP
    instance answers with relative upload URLs, so a client that came over HTTP stays on it.
    """
    driver: dict[str, object]
    if isinstance(storage, S3):
        s3: dict[str, object] = {
            "bucket": storage.bucket,
            "region": storage.region,
            "accesskey": storage.access_key,
            "secretkey": storage.secret_key,
            "rootdirectory": storage.root_directory,
        }
        if storage.region_endpoint:
            s3["regionendpoint"] = storage.region_endpoint
        driver = {"s3": s3}
    else:
        driver = {"filesystem": {"rootdirectory": storage.root_directory}}
    config = {
        "version": 0.1,
        "log": {"fields": {"service": "registry"}},
        "storage": {
            **driver,
            # Lets `docker-registry garbage-collect` reclaim space after deletes.
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {
            "addr": f":{port}",
            "secret": http_secret,
            **(
                {"tls": {"certificate": f"{TLS_DIR}/server.crt", "key": f"{TLS_DIR}/server.key"}}
                if tls
                else {"relativeurls": True}
            ),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "auth": {"htpasswd": {"realm": REALM, "path": HTPASSWD_FILE}},
        "health": {"storagedriver": {"enabled": True, "interval": "10s", "threshold": 3}},
    }
    return yaml.safe_dump(config, sort_keys=False)


def htpasswd_line(username: str, bcrypt_hash: str) -> str:
    if not bcrypt_hash.startswith("$2"):
        raise ValueError("htpasswd for the registry takes bcrypt hashes only")
    return f"{username}:{bcrypt_hash}\n"


@dataclass(frozen=True)
class Endpoint:
    """How nodes reach a registry: verified against `ca_file` (or the system store), or not."""

    domain: str
    ca_file: str | None = None
    # https without verification first, then plain http: covers both kinds of insecure registry.
    insecure: bool = False
    # Other names images may carry for the same registry (the managed one's plain-HTTP address,
    # where builds push): nodes pull them from `urls` too.
    mirrored: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.domain, *self.mirrored)

    @property
    def urls(self) -> list[str]:
        https = f"https://{self.domain}"
        return [https, f"http://{self.domain}"] if self.insecure else [https]


def _toml_string(value: str) -> str:
    # A JSON string of ASCII text is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def hosts_toml_marker(endpoint: Endpoint) -> str:
    return f"# rainbond-ha: the registry {endpoint.domain}"


def hosts_toml(endpoint: Endpoint) -> str:
    """containerd's `certs.d/<name>/hosts.toml` for each of the endpoint's names (read without a
    restart); its first line marks it as this program's, for the trust step to clean up."""
    lines = [hosts_toml_marker(endpoint), f"server = {_toml_string(endpoint.urls[0])}"]
    for url in endpoint.urls:
        lines += ["", f"[host.{_toml_string(url)}]", '  capabilities = ["pull", "resolve", "push"]']
        if endpoint.ca_file:
            lines.append(f"  ca = {_toml_string(endpoint.ca_file)}")
        if endpoint.insecure and url.startswith("https://"):
            lines.append("  skip_verify = true")
    return "\n".join(lines) + "\n"


def rke2_registries(endpoint: Endpoint, username: str, password: str) -> str:
    """RKE2's registries.yaml: it writes its own containerd hosts.toml from this at start."""
    tls: dict[str, object] = {}
    if endpoint.ca_file:
        tls["ca_file"] = endpoint.ca_file
    if endpoint.insecure:
        tls["insecure_skip_verify"] = True
    config: dict[str, object] = {"auth": {"username": username, "password": password}}
    if tls:
        config["tls"] = tls
    document = {
        "mirrors": {name: {"endpoint": endpoint.urls} for name in endpoint.names},
        "configs": {endpoint.domain: config},
    }
    return yaml.safe_dump(document, sort_keys=False)


def hosts_entries(names: Mapping[str, str]) -> str:
    """Lines for the managed block in /etc/hosts: `address name`, one per name."""
    return "".join(f"{address} {name}\n" for name, address in sorted(names.items()))
