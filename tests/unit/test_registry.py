"""What ImageRegistry asks each node to do, per mode, read back from the rendered steps."""

from __future__ import annotations

import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from tests.unit.conftest import (
    FAKE_KUBECONFIG,
    Deployment,
    Registration,
    deploy,
    edited,
    fake_bcrypt,
    fake_password,
    is_secret,
    unwrap,
)
from tests.unit.edits import put

COMMAND = "command:remote:Command"
NODES = ("rbd-1", "rbd-2", "rbd-3")
CA_FILE = "/usr/local/share/ca-certificates/rainbond-ha-registry.crt"
PASSWORD = fake_password("registry-password", 32)


def param(step: Registration, key: str) -> str:
    """The value a step's script sees for `key`, as bash evaluates the rendered header."""
    script = shlex.split(unwrap(step.inputs["create"]))[2]
    header = script[: script.index("\n#")]
    result = subprocess.run(
        ["bash", "-c", f'{header}\nprintf %s "${{{key}}}"'],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def stdin(step: Registration) -> str:
    assert is_secret(step.inputs["stdin"]), step.name
    value: str = unwrap(step.inputs["stdin"])
    return value


def registry_steps(deployment: Deployment) -> list[str]:
    return sorted(r.name for r in deployment.of_type(COMMAND) if r.name.startswith("registry-"))


def depends_on(deployment: Deployment, step: Registration, name: str) -> bool:
    return deployment.named(name).urn in step.dependencies


def test_managed_tls_then_server_then_trust(dev: Deployment) -> None:
    tls, server = dev.named("registry-tls"), dev.named("registry-server")
    assert param(tls, "SANS") == "IP:192.0.2.13"
    assert depends_on(dev, server, "registry-tls")
    for node in NODES:
        assert depends_on(dev, dev.named(f"registry-trust-{node}"), "registry-server")


def test_managed_server_receives_login_and_config_on_stdin(dev: Deployment) -> None:
    server = dev.named("registry-server")
    password, htpasswd, configs = stdin(server).split("\n", 2)
    assert password == PASSWORD
    assert htpasswd == f"rainbond:{fake_bcrypt(PASSWORD)}"
    # Two instances on one storage and secret: TLS on 5000, plain HTTP on 5080 for the builds.
    tls, http = yaml.safe_load_all(configs)
    assert tls["http"]["addr"] == ":5000" and http["http"]["addr"] == ":5080"
    assert "tls" in tls["http"] and "tls" not in http["http"]
    assert http["http"]["relativeurls"] is True  # upload URLs stay on plain HTTP
    for parsed in (tls, http):
        assert parsed["http"]["secret"] == fake_password("registry-http-secret", 32)
        assert parsed["storage"]["filesystem"]["rootdirectory"] == "/var/lib/docker-registry"
    assert param(server, "DOMAIN") == "192.0.2.13:5000"
    assert param(server, "BUILD_DOMAIN") == "192.0.2.13:5080"
    assert param(server, "DELETE_DATA") == "false"
    assert server.inputs["logging"] == "none"


def test_every_node_trusts_the_managed_registry(dev: Deployment) -> None:
    for node in NODES:
        trust = dev.named(f"registry-trust-{node}")
        # The CA is what the tls step printed (the mocks print "<name>: ok").
        assert param(trust, "CA_PEM") == "registry-tls: ok"
        assert param(trust, "CA_FILE") == CA_FILE
        assert param(trust, "HOSTS_LINES") == "192.0.2.10 goodrain.me\n"
        hosts = tomllib.loads(param(trust, "HOSTS_TOML"))
        assert hosts["host"]["https://192.0.2.13:5000"]["ca"] == CA_FILE
        # Images Rainbond builds are named after the plain-HTTP address; nodes pull them over TLS.
        assert param(trust, "DOMAIN") == "192.0.2.13:5000"
        assert param(trust, "MIRRORED") == "192.0.2.13:5080"
        # The dev stack is RKE2: registries.yaml with the login travels on stdin.
        assert param(trust, "RKE2_REGISTRIES") == "/etc/rancher/rke2/registries.yaml"
        registries = yaml.safe_load(stdin(trust))
        assert registries["configs"]["192.0.2.13:5000"] == {
            "auth": {"username": "rainbond", "password": PASSWORD},
            "tls": {"ca_file": CA_FILE},
        }
        assert registries["mirrors"] == {
            name: {"endpoint": ["https://192.0.2.13:5000"]}
            for name in ("192.0.2.13:5000", "192.0.2.13:5080")
        }


def test_existing_cluster_gets_no_registries_yaml(
    dev_config: dict[str, Any], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(FAKE_KUBECONFIG)
    existing = {"mode": "existing", "kubeconfigPath": str(kubeconfig)}
    deployment = deploy(edited(dev_config, put("kubernetes", existing)))
    for node in NODES:
        trust = deployment.named(f"registry-trust-{node}")
        assert param(trust, "RKE2_REGISTRIES") == ""
        assert "stdin" not in trust.inputs
        assert trust.inputs["logging"] == "stdoutAndStderr"


def test_managed_domain_name_resolves_to_the_registry_node(dev_config: dict[str, Any]) -> None:
    deployment = deploy(
        edited(dev_config, put("registry", {"mode": "managed", "domain": "hub.corp:5000"}))
    )
    assert param(deployment.named("registry-tls"), "SANS") == "IP:192.0.2.13,DNS:hub.corp"
    trust = deployment.named("registry-trust-rbd-1")
    assert param(trust, "HOSTS_LINES") == "192.0.2.10 goodrain.me\n192.0.2.13 hub.corp\n"
    assert param(trust, "DOMAIN") == "hub.corp:5000"
    assert deployment.outputs["registry"].value["domain"] == "hub.corp:5000"


def test_managed_s3_storage_and_data_deletion(dev_config: dict[str, Any]) -> None:
    s3 = {
        "bucket": "images",
        "region": "us-east-1",
        "regionEndpoint": "https://minio.corp:9000",
        "accessKey": "AKID",
        "secretKey": {"secure": "s3cr3t"},
    }
    deployment = deploy(
        edited(
            dev_config,
            put("registry", {"mode": "managed", "s3": s3, "deleteDataOnDestroy": True}),
        )
    )
    server = deployment.named("registry-server")
    for config in yaml.safe_load_all(stdin(server).split("\n", 2)[2]):
        assert config["storage"]["s3"]["secretkey"] == "s3cr3t"
        assert config["storage"]["s3"]["regionendpoint"] == "https://minio.corp:9000"
    assert "s3cr3t" not in unwrap(server.inputs["create"])
    assert param(server, "DELETE_DATA") == "true"


def test_external_registry_is_checked_then_trusted(dev_config: dict[str, Any]) -> None:
    external = {
        "mode": "external",
        "domain": "harbor.corp:8443",
        "username": "robot",
        "password": {"secure": "hunter22"},
        "insecure": True,
    }
    deployment = deploy(
        edited(dev_config, put("registry", external), put("nodes[2].roles", ["master"]))
    )
    assert registry_steps(deployment) == ["registry-check"] + [f"registry-trust-{n}" for n in NODES]
    check = deployment.named("registry-check")
    assert stdin(check) == "hunter22"
    assert param(check, "INSECURE") == "true"
    assert "delete" not in check.inputs  # reads only
    trust = deployment.named("registry-trust-rbd-2")
    assert depends_on(deployment, trust, "registry-check")
    assert param(trust, "CA_PEM") == ""
    hosts = tomllib.loads(param(trust, "HOSTS_TOML"))
    assert list(hosts["host"]) == ["https://harbor.corp:8443", "http://harbor.corp:8443"]
    registries = yaml.safe_load(stdin(trust))
    assert registries["configs"]["harbor.corp:8443"]["auth"]["password"] == "hunter22"


def test_builtin_hub_is_goodrain_me_behind_the_vip(dev_config: dict[str, Any]) -> None:
    deployment = deploy(
        edited(dev_config, put("registry", {"mode": "builtin"}), put("nodes[2].roles", ["master"]))
    )
    assert registry_steps(deployment) == [f"registry-trust-{n}" for n in NODES]
    trust = deployment.named("registry-trust-rbd-3")
    assert param(trust, "DOMAIN") == "goodrain.me"
    assert param(trust, "HOSTS_LINES") == "192.0.2.10 goodrain.me\n"
    registries = yaml.safe_load(stdin(trust))
    assert registries["configs"]["goodrain.me"]["auth"] == {
        "username": "admin",
        "password": PASSWORD,
    }
    assert deployment.outputs["registry"].value["domain"] == "goodrain.me"
