"""KubernetesCluster: RKE2's files, scripts and join order; the existing cluster's node check.

RKE2 cannot be obtained offline, so this tier is what covers its install path: the rendered
config.yaml, the step commands and the order the engine runs them in.
"""

from __future__ import annotations

import base64
import http.server
import itertools
import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from components.kubernetes import files as rke2_config
from components.kubernetes.component import NODE_CHECK
from components.kubernetes.kubeconfig import api_access
from components.kubernetes.rke2 import RKE2
from config.rules import Files
from lab.labctl import HOST_ADDR
from tests.unit.conftest import (
    Deployment,
    Registration,
    depends_on,
    deploy,
    edited,
    is_secret,
    unwrap,
)
from tests.unit.edits import added_node, findings, put

LOCAL = "command:local:Command"
CHECKER = NODE_CHECK


_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def rendered_params(step: Registration) -> dict[str, str]:
    """The shell variables a step's command sets in front of its script (see remote.render)."""
    text = shlex.split(unwrap(step.inputs["create"]))[2]
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    params = {}
    # Tokens are read one at a time: the script after the assignments need not be shell words.
    for token in lexer:
        if not _ASSIGNMENT.match(token):
            break
        key, value = token.split("=", 1)
        params[key] = value
    return params


# --------------------------------------------------------------------------- RKE2 files


SNAPSHOTS = rke2_config.Snapshots(schedule="0 */6 * * *", retention=28)


def test_every_server_registers_through_the_fixed_address() -> None:
    config = yaml.safe_load(
        rke2_config.server_config(
            node_name="rbd-1", node_ip="10.0.0.11", api_address="10.0.0.10", snapshots=SNAPSHOTS
        )
    )
    assert config == {
        "node-name": "rbd-1",
        "node-ip": "10.0.0.11",
        "token-file": "/etc/rancher/rke2/cluster-token",
        "server": "https://10.0.0.10:9345",
        "tls-san": ["10.0.0.10"],
        "write-kubeconfig-mode": "0600",
        # Rainbond's gateway needs 80/443 on the gateway nodes.
        "disable": ["rke2-ingress-nginx"],
        "etcd-snapshot-schedule-cron": "0 */6 * * *",
        "etcd-snapshot-retention": 28,
    }


def test_etcd_snapshots_go_to_s3_too_without_the_secret_in_config_yaml() -> None:
    snapshots = rke2_config.Snapshots(
        schedule="0 3 * * *",
        retention=7,
        s3_bucket="backups",
        s3_endpoint="minio.example:9000",
        s3_folder="rbd",
        s3_access_key="AKIA",
        s3_insecure=True,
    )
    text = rke2_config.server_config(
        node_name="rbd-2", node_ip="10.0.0.12", api_address="k8s.example", snapshots=snapshots
    )
    config = yaml.safe_load(text)
    assert {key: value for key, value in config.items() if key.startswith("etcd-")} == {
        "etcd-snapshot-schedule-cron": "0 3 * * *",
        "etcd-snapshot-retention": 7,
        "etcd-s3": True,
        "etcd-s3-bucket": "backups",
        "etcd-s3-endpoint": "minio.example:9000",
        "etcd-s3-region": "us-east-1",
        "etcd-s3-access-key": "AKIA",
        "etcd-s3-folder": "rbd",
        "etcd-s3-insecure": True,
    }
    assert "secret" not in text
    line = rke2_config.s3_secret_config("s3cr3t/+key")
    assert "\n" not in line and yaml.safe_load(line) == {"etcd-s3-secret-key": "s3cr3t/+key"}
    assert rke2_config.s3_secret_config("") == ""


def test_agents_register_through_the_api_address() -> None:
    config = yaml.safe_load(
        rke2_config.agent_config(node_name="rbd-4", node_ip="10.0.0.14", server_address="10.0.0.10")
    )
    assert config == {
        "node-name": "rbd-4",
        "node-ip": "10.0.0.14",
        "token-file": "/etc/rancher/rke2/cluster-token",
        "server": "https://10.0.0.10:9345",
    }


def test_only_the_first_server_may_initialise() -> None:
    assert rke2_config.bootstrap_server(["a", "b", "c"]) == "a"


# --------------------------------------------------------------------------- RKE2 steps


def _worker(config: dict[str, Any]) -> None:
    config["nodes"].append(added_node("rbd-4", 14, "worker"))


@pytest.fixture
def rke2(dev_config: dict[str, Any]) -> Deployment:
    return deploy(edited(dev_config, _worker))


def test_servers_then_agents_change_one_at_a_time(rke2: Deployment) -> None:
    chain = [f"kubernetes-server-rbd-{i}" for i in (1, 2, 3)] + ["kubernetes-agent-rbd-4"]
    for previous, step in itertools.pairwise(chain):
        assert depends_on(rke2, rke2.named(step), previous)
    assert not depends_on(rke2, rke2.named(chain[0]), chain[1])


def test_server_commands(rke2: Deployment) -> None:
    first = rendered_params(rke2.named("kubernetes-server-rbd-1"))
    second = rendered_params(rke2.named("kubernetes-server-rbd-2"))
    assert (first["ROLE"], first["BOOTSTRAP"], first["ARTIFACTS"]) == ("server", "1", "")
    assert (second["BOOTSTRAP"], second["REGISTRATION"]) == ("", "192.0.2.20")
    assert second["PEERS"] == "192.0.2.11 192.0.2.13"
    for params in (first, second):
        assert yaml.safe_load(params["CONFIG"])["server"] == "https://192.0.2.20:9345"
        assert yaml.safe_load(params["CONFIG"])["tls-san"] == ["192.0.2.20"]
    agent = rendered_params(rke2.named("kubernetes-agent-rbd-4"))
    assert (agent["ROLE"], agent["REGISTRATION"], agent["BOOTSTRAP"]) == ("agent", "192.0.2.20", "")


def test_token_only_on_stdin(rke2: Deployment) -> None:
    (token,) = [
        r for r in rke2.of_type("random:index/randomPassword:RandomPassword") if "token" in r.name
    ]
    for name in ("kubernetes-server-rbd-1", "kubernetes-server-rbd-2", "kubernetes-agent-rbd-4"):
        step = rke2.named(name)
        assert is_secret(step.inputs["stdin"])
        assert step.inputs["logging"] == "none"
        assert token.name.replace("-", "") not in json.dumps(unwrap(step.inputs["create"]))


def test_destroy_runs_the_uninstall_script(rke2: Deployment) -> None:
    delete = unwrap(rke2.named("kubernetes-server-rbd-2").inputs["delete"])
    assert "rke2-uninstall.sh" in delete


def test_kubeconfig_is_a_secret_pointing_at_the_api_address(rke2: Deployment) -> None:
    step = rke2.named("kubernetes-kubeconfig")
    assert "API_ADDRESS=192.0.2.20" in unwrap(step.inputs["create"])
    assert rke2.outputs["kubeconfig"].secret


def test_air_gapped_artifacts_are_copied_before_rke2(
    dev_config: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "install.sh").write_text("#!/bin/sh\n")
    (tmp_path / "rke2.linux-amd64.tar.gz").write_bytes(b"x")
    deployment = deploy(edited(dev_config, _worker, put("kubernetes.artifactsDir", str(tmp_path))))
    uploads = {r.name: r for r in deployment.of_type(LOCAL) if "-artifacts-" in r.name}
    assert sorted(uploads) == [f"kubernetes-artifacts-rbd-{i}" for i in (1, 2, 3, 4)]
    upload = uploads["kubernetes-artifacts-rbd-2"]
    create = unwrap(upload.inputs["create"])
    assert f"tar -C {tmp_path} -cf - ." in create
    assert "root@192.0.2.12" in create and rke2_config.ARTIFACTS_DIR in create
    assert is_secret(upload.inputs["stdin"])  # the SSH key
    server = deployment.named("kubernetes-server-rbd-2")
    assert upload.urn in server.dependencies
    assert rendered_params(server)["ARTIFACTS"] == rke2_config.ARTIFACTS_DIR


def test_artifacts_dir_must_hold_install_sh(dev_config: dict[str, Any], tmp_path: Path) -> None:
    def about_artifacts(config: dict[str, Any], files: Files = Files.REQUIRED) -> list[str]:
        return [f for f in findings(config, files) if "kubernetes.artifactsDir" in f]

    empty = edited(dev_config, put("kubernetes.artifactsDir", str(tmp_path)))
    assert about_artifacts(empty) == [
        f"kubernetes.artifactsDir: {tmp_path} has no install.sh; put RKE2's install.sh there"
        " with the release tarball, checksums and image archives"
    ]
    missing = edited(dev_config, put("kubernetes.artifactsDir", str(tmp_path / "absent")))
    assert about_artifacts(missing) == [
        f"kubernetes.artifactsDir: {tmp_path / 'absent'} does not exist; create it or point to"
        " a directory of RKE2's release artifacts"
    ]
    # Reviewing a stack file elsewhere only warns.
    assert [f.split(":")[0] for f in about_artifacts(missing, Files.WARN)] == ["warning"]
    (tmp_path / "install.sh").write_text("#!/bin/sh\n")
    assert about_artifacts(empty) == []


def test_rke2_script_is_valid_shell() -> None:
    for name in ("rke2", "rke2-delete"):
        subprocess.run(["bash", "-n", str(RKE2.folder / f"{name}.sh")], check=True)


# --------------------------------------------------------------------------- existing cluster


CA, CERT, KEY = (base64.b64encode(text.encode()).decode() for text in ("ca", "cert", "key"))


def test_api_access_from_inline_data() -> None:
    kubeconfig = yaml.safe_dump(
        {
            "clusters": [
                {
                    "name": "c",
                    "cluster": {"server": "https://k:6443", "certificate-authority-data": CA},
                }
            ],
            "users": [
                {"name": "u", "user": {"client-certificate-data": CERT, "client-key-data": KEY}}
            ],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    assert api_access(kubeconfig) == {
        "server": "https://k:6443",
        "insecure": False,
        "ca": CA,
        "cert": CERT,
        "key": KEY,
        "token": None,
    }


def test_api_access_from_files_and_token(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("ca")
    (tmp_path / "token").write_text("t0ken\n")
    kubeconfig = yaml.safe_dump(
        {
            "clusters": [
                {
                    "name": "c",
                    "cluster": {
                        "server": "https://k",
                        "certificate-authority": str(tmp_path / "ca.crt"),
                    },
                }
            ],
            "users": [{"name": "u", "user": {"tokenFile": str(tmp_path / "token")}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    access = api_access(kubeconfig)
    assert (access["ca"], access["token"], access["cert"]) == (CA, "t0ken", None)


@pytest.fixture
def existing(dev_config: dict[str, Any], tmp_path: Path) -> Deployment:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": f"https://{HOST_ADDR}:6443"}}],
                "users": [{"name": "u", "user": {"token": "s3cret-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return deploy(
        edited(
            dev_config, put("kubernetes", {"mode": "existing", "kubeconfigPath": str(kubeconfig)})
        )
    )


def test_existing_cluster_is_checked_before_anything_uses_it(existing: Deployment) -> None:
    check = existing.named("kubernetes-nodes-check")
    assert json.loads(unwrap(check.inputs["create"])) == ["rbd-1", "rbd-2", "rbd-3"]
    assert is_secret(check.inputs["stdin"])
    assert json.loads(unwrap(check.inputs["stdin"]))["token"] == "s3cret-token"
    assert "s3cret-token" not in json.dumps(check.inputs["create"])
    (provider,) = existing.of_type("pulumi:providers:kubernetes")
    assert check.urn in provider.dependencies
    # The kubeconfig is the user's: its own heuristics decide when the provider is replaced.
    assert "clusterIdentifier" not in provider.inputs


class _FakeApi(http.server.BaseHTTPRequestHandler):
    nodes: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        assert self.headers["Authorization"] == "Bearer t"
        body = (
            {"gitVersion": "v1.36.1"}
            if self.path == "/version"
            else {"items": [{"metadata": {"name": n}} for n in self.nodes], "metadata": {}}
        )
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _check(server: str, wanted: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHECKER.read_text(), json.dumps(wanted)],
        input=json.dumps({"server": server, "token": "t"}),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_check_passes_when_every_node_exists(fake_api: str) -> None:
    _FakeApi.nodes = ["node1", "node2", "node3"]
    result = _check(fake_api, ["node1", "node3"])
    assert result.returncode == 0, result.stderr
    assert "v1.36.1" in result.stdout


def test_check_names_every_missing_node_in_one_error(fake_api: str) -> None:
    _FakeApi.nodes = ["node1"]
    result = _check(fake_api, ["node1", "node2", "node3"])
    assert result.returncode == 1
    assert "has no node named node2, node3 (it has: node1)" in result.stderr


def test_check_reports_an_api_that_does_not_answer() -> None:
    result = _check("http://127.0.0.1:9", ["node1"])
    assert result.returncode == 1
    assert "does not answer" in result.stderr


# --------------------------------------------------------------------------- node annotations


def test_gateway_and_build_nodes_are_annotated_before_the_release(
    dev_config: dict[str, Any],
) -> None:
    config = edited(
        dev_config,
        put("nodes[1].roles", ["master", "gateway", "mysql"]),
        put("nodes[2].roles", ["master", "build", "registry"]),
    )
    deployment = deploy(config)
    patches = {
        unwrap(r.inputs["metadata"])["name"]: unwrap(r.inputs["metadata"])["annotations"]
        for r in deployment.of_type("kubernetes:core/v1:NodePatch")
    }
    assert patches == {
        "rbd-1": {"rainbond.io/gateway-node": "true", "rainbond.io/chaos-node": "true"},
        "rbd-2": {"rainbond.io/gateway-node": "true"},
        "rbd-3": {"rainbond.io/chaos-node": "true"},
    }
    (release,) = deployment.of_type("kubernetes:helm.sh/v3:Release")
    for patch in deployment.of_type("kubernetes:core/v1:NodePatch"):
        assert patch.urn in release.dependencies
