"""The files the registry and its trust put on nodes, parsed back as their readers would."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address
from typing import Any

import pytest
import yaml

from components.registry import files
from lab.labctl import VIP, address, node_address

# Lab addresses from the lab's address plan (lab/subnet.py): node3 holds the lab's registry.
NODE3 = node_address("node3")
OTHER = address(99)

SECRET = "httpsecret123"


def config(storage: files.Filesystem | files.S3) -> Any:
    return yaml.safe_load(files.registry_config(port=5000, storage=storage, http_secret=SECRET))


def test_filesystem_config_serves_tls_with_htpasswd() -> None:
    parsed = config(files.Filesystem())
    assert parsed["version"] == 0.1
    assert parsed["http"]["addr"] == ":5000"
    assert parsed["http"]["secret"] == SECRET
    assert parsed["http"]["tls"] == {
        "certificate": "/etc/docker/registry/tls/server.crt",
        "key": "/etc/docker/registry/tls/server.key",
    }
    assert parsed["auth"] == {
        "htpasswd": {"realm": "rainbond-registry", "path": "/etc/docker/registry/htpasswd"}
    }
    assert parsed["storage"]["filesystem"] == {"rootdirectory": "/var/lib/docker-registry"}
    assert "s3" not in parsed["storage"]
    assert parsed["storage"]["delete"] == {"enabled": True}


def test_s3_config_for_instances_sharing_a_bucket() -> None:
    s3 = files.S3(
        bucket="images",
        region="us-east-1",
        access_key="AKID",
        secret_key="s3cr3t",
        region_endpoint="https://minio.internal:9000",
        root_directory="/rainbond",
    )
    parsed = config(s3)
    assert "filesystem" not in parsed["storage"]
    assert parsed["storage"]["s3"] == {
        "bucket": "images",
        "region": "us-east-1",
        "accesskey": "AKID",
        "secretkey": "s3cr3t",
        "rootdirectory": "/rainbond",
        "regionendpoint": "https://minio.internal:9000",
    }
    # Instances behind one address must sign upload state with the same secret.
    assert parsed["http"]["secret"] == SECRET


def test_s3_on_aws_names_no_endpoint() -> None:
    s3 = files.S3(bucket="b", region="eu-west-1", access_key="a", secret_key="s")
    assert "regionendpoint" not in config(s3)["storage"]["s3"]


def test_htpasswd_takes_bcrypt_only() -> None:
    assert files.htpasswd_line("rainbond", "$2a$10$abc") == "rainbond:$2a$10$abc\n"
    with pytest.raises(ValueError, match="bcrypt"):
        files.htpasswd_line("rainbond", "{SHA}abc")


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (f"{NODE3}:5000", f"IP:{NODE3}"),
        ("registry.example.com:5000", f"IP:{NODE3},DNS:registry.example.com"),
        ("registry.example.com", f"IP:{NODE3},DNS:registry.example.com"),
        (f"{OTHER}:443", f"IP:{NODE3},IP:{OTHER}"),
    ],
)
def test_server_certificate_names(domain: str, expected: str) -> None:
    assert files.subject_alt_names(domain, IPv4Address(NODE3)) == expected


def test_managed_hosts_toml_verifies_with_our_ca() -> None:
    endpoint = files.Endpoint(f"{NODE3}:5000", ca_file=files.CA_FILE)
    parsed = tomllib.loads(files.hosts_toml(endpoint))
    assert parsed == {
        "server": f"https://{NODE3}:5000",
        "host": {
            f"https://{NODE3}:5000": {
                "capabilities": ["pull", "resolve", "push"],
                "ca": "/usr/local/share/ca-certificates/rainbond-ha-registry.crt",
            }
        },
    }


def test_insecure_hosts_toml_tries_unverified_https_then_http() -> None:
    toml = files.hosts_toml(files.Endpoint("goodrain.me", insecure=True))
    parsed = tomllib.loads(toml)
    assert parsed["server"] == "https://goodrain.me"
    assert list(parsed["host"]) == ["https://goodrain.me", "http://goodrain.me"]
    assert toml.index("https://goodrain.me") < toml.index('"http://goodrain.me"')
    assert parsed["host"]["https://goodrain.me"]["skip_verify"] is True
    assert "skip_verify" not in parsed["host"]["http://goodrain.me"]
    assert all("ca" not in host for host in parsed["host"].values())


def test_rke2_registries_with_ca_and_login() -> None:
    endpoint = files.Endpoint(f"{NODE3}:5000", ca_file=files.CA_FILE)
    parsed = yaml.safe_load(files.rke2_registries(endpoint, "rainbond", "pw"))
    assert parsed == {
        "mirrors": {f"{NODE3}:5000": {"endpoint": [f"https://{NODE3}:5000"]}},
        "configs": {
            f"{NODE3}:5000": {
                "auth": {"username": "rainbond", "password": "pw"},
                "tls": {"ca_file": "/usr/local/share/ca-certificates/rainbond-ha-registry.crt"},
            }
        },
    }


def test_rke2_registries_insecure() -> None:
    endpoint = files.Endpoint("harbor.example:8443", insecure=True)
    parsed = yaml.safe_load(files.rke2_registries(endpoint, "u", "p"))
    assert parsed["mirrors"]["harbor.example:8443"]["endpoint"] == [
        "https://harbor.example:8443",
        "http://harbor.example:8443",
    ]
    assert parsed["configs"]["harbor.example:8443"]["tls"] == {"insecure_skip_verify": True}


def test_hosts_entries() -> None:
    entries = files.hosts_entries({"goodrain.me": VIP, "hub.lab": NODE3})
    assert entries == f"{VIP} goodrain.me\n{NODE3} hub.lab\n"
