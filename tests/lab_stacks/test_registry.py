"""The managed registry on the lab: up, push and pull with TLS and auth, trust on every node,
a second up with no changes, destroy leaving the nodes clean (images kept).

The gateway is an external address (the reserved VIP) so this test does not depend on keepalived.
Takes about 2-3 minutes; skopeo is installed on two nodes for the test and removed after it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
import tomllib
import urllib.error
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from lab.labctl import VIP, node_address, require_lab_up, ssh_argv
from tests.lab_stacks.audit import on as audit_on
from tests.lab_stacks.harness import component_stack
from tests.lab_stacks.probes import Manifest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODES = ("node1", "node2", "node3")
DOMAIN = f"{node_address('node3')}:5000"
# Where Rainbond's builds push: the same registry over plain HTTP.
PUSH_DOMAIN = f"{node_address('node3')}:5080"
CA_FILE = "/usr/local/share/ca-certificates/rainbond-ha-registry.crt"
HOSTS_TOML = f"/etc/containerd/certs.d/{DOMAIN}/hosts.toml"
PUSHED_HOSTS_TOML = f"/etc/containerd/certs.d/{PUSH_DOMAIN}/hosts.toml"
WORK = "/tmp/rainbond-ha-registry-e2e"
PUSHER, PULLER = "node1", "node2"


def on(node: str, command: str, stdin: bytes = b"", check: bool = True) -> str:
    result = subprocess.run(ssh_argv(node, command), input=stdin, capture_output=True, timeout=300)
    out = result.stdout.decode() + result.stderr.decode()
    if check and result.returncode != 0:
        raise AssertionError(f"{node}: {command!r} failed ({result.returncode}): {out}")
    return out if check else f"{result.returncode}\n{out}"


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def oci_image() -> tuple[bytes, str]:
    """A one-layer OCI image layout made here (a tar of it), and its manifest digest."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as tar:
        content = f"built for the registry test {uuid.uuid4()}\n".encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    blobs: dict[str, bytes] = {}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()],
        },
    }
    manifest_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": _blob(
            blobs, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"
        ),
        "layers": [
            _blob(
                blobs,
                gzip.compress(layer_tar.getvalue(), mtime=0),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        ],
    }
    manifest_ref = _blob(blobs, json.dumps(manifest).encode(), manifest_type)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {**manifest_ref, "annotations": {"org.opencontainers.image.ref.name": "latest"}}
        ],
    }
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index).encode(),
        **{f"blobs/sha256/{d.removeprefix('sha256:')}": data for d, data in blobs.items()},
    }
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"layout/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive.getvalue(), manifest_ref["digest"]


@pytest.fixture(scope="module")
def skopeo() -> Iterator[None]:
    """skopeo on the pusher and the puller, removed afterwards with what it pulled in."""
    require_lab_up()
    added: dict[str, str] = {}
    listing = "dpkg-query -W -f '${Package}\\n' | sort"
    try:
        for node in (PUSHER, PULLER):
            before = on(node, listing)
            on(
                node,
                "export DEBIAN_FRONTEND=noninteractive; apt-get -o DPkg::Lock::Timeout=300 -y"
                " install --no-install-recommends skopeo >/dev/null 2>&1 || { apt-get"
                " -o DPkg::Lock::Timeout=300 update >/dev/null && apt-get -o"
                " DPkg::Lock::Timeout=300 -y install --no-install-recommends skopeo >/dev/null; }",
            )
            added[node] = " ".join(sorted(set(on(node, listing).split()) - set(before.split())))
        yield
    finally:
        for node, packages in added.items():
            if packages:
                on(node, f"apt-get -o DPkg::Lock::Timeout=300 -y purge {packages} >/dev/null")
            on(node, f"rm -rf {WORK}")


# Destroy keeps the images by default (checked below); the lab stack deletes them.
KEEPING_IMAGES = {"mode": "managed", "deleteDataOnDestroy": False}
# What destroy keeps, removed by the tests after it.
REMOVE_IMAGES = (
    "rm -rf /var/lib/docker-registry; userdel docker-registry 2>/dev/null;"
    " groupdel docker-registry 2>/dev/null; true"
)


def registry_stack(name: str, where: Path, overrides: dict[str, Any]) -> auto.Stack:
    """Preflight and the managed registry; the gateway is an external address."""
    defaults = {"gateway": {"mode": "external", "address": VIP}, "registry": KEEPING_IMAGES}
    return component_stack(name, where, ["registry"], overrides={**defaults, **overrides})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[auto.Stack, Any]]:
    require_lab_up()
    stack = registry_stack("registry", tmp_path_factory.mktemp("registry"), {})
    try:
        up = stack.up(color="never", on_output=print)
        yield stack, up.outputs
    finally:
        stack.destroy(color="never", on_output=print)
        on("node3", REMOVE_IMAGES)


def test_outputs(stack: tuple[auto.Stack, Any]) -> None:
    _, outputs = stack
    registry = outputs["registry"]
    assert registry.value["domain"] == DOMAIN
    assert registry.value["pushDomain"] == PUSH_DOMAIN
    assert registry.value["username"] == "rainbond"
    assert len(registry.value["password"]) == 32


def test_every_node_trusts_the_registry(stack: tuple[auto.Stack, Any]) -> None:
    for node in NODES:
        hosts = tomllib.loads(on(node, f"cat {HOSTS_TOML}"))
        ca = hosts["host"][f"https://{DOMAIN}"]["ca"]
        assert ca == CA_FILE
        on(node, f"openssl x509 -noout -in {ca}")
        # In the system store: curl verifies the registry without being told the CA.
        code = on(node, f"curl -s -o /dev/null -w '%{{http_code}}' https://{DOMAIN}/v2/")
        assert code == "401", node
        assert on(node, "getent hosts goodrain.me").split() == [VIP, "goodrain.me"], node


def test_a_build_pushes_over_plain_http_and_nodes_pull_its_name_over_tls(
    stack: tuple[auto.Stack, Any],
) -> None:
    registry = stack[1]["registry"].value
    login = (registry["username"], registry["password"])
    # As Rainbond's BuildKit pushes (`http = true` for the image hub): plain HTTP only, and the
    # registry's upload URLs keep it there.
    built = Manifest(PUSH_DOMAIN, *login, ca_pem=None)
    digest = built.push("rainbond/built", "1")
    assert all(location.startswith("/v2/") for location in built.upload_locations)
    with pytest.raises(urllib.error.HTTPError, match="401"):
        Manifest(PUSH_DOMAIN, "rainbond", "wrong", ca_pem=None).push("rainbond/anonymous", "1")
    # The same image over TLS: one storage behind both listeners.
    tls = Manifest(DOMAIN, *login, on("node3", f"cat {CA_FILE}"))
    assert tls.fetcher("rainbond/built", "1", digest)(0) == digest
    # containerd on every node pulls what is named after the plain-HTTP address from TLS.
    for node in NODES:
        hosts = tomllib.loads(on(node, f"cat {PUSHED_HOSTS_TOML}"))
        assert hosts["server"] == f"https://{DOMAIN}", node
        assert hosts["host"][f"https://{DOMAIN}"]["ca"] == CA_FILE, node


def _fresh_work_dir(node: str, password: str) -> str:
    """An empty work directory on `node` holding a 0600 authfile with the registry login."""
    on(node, f"rm -rf {WORK} && mkdir -p {WORK}")
    token = base64.b64encode(f"rainbond:{password}".encode()).decode()
    auth = json.dumps({"auths": {DOMAIN: {"auth": token}}}).encode()
    on(node, f"umask 077 && cat > {WORK}/auth.json", stdin=auth)
    return f"{WORK}/auth.json"


def test_push_with_auth_and_pull_by_digest_elsewhere(
    stack: tuple[auto.Stack, Any], skopeo: None
) -> None:
    password = stack[1]["registry"].value["password"]
    archive, digest = oci_image()
    authfile = _fresh_work_dir(PUSHER, password)
    on(PUSHER, f"tar -x -C {WORK}", stdin=archive)
    on(
        PUSHER,
        f"skopeo copy --dest-authfile {authfile} --digestfile {WORK}/pushed"
        f" oci:{WORK}/layout:latest docker://{DOMAIN}/rainbond/e2e:1",
    )
    assert on(PUSHER, f"cat {WORK}/pushed").strip() == digest

    authfile = _fresh_work_dir(PULLER, password)
    on(
        PULLER,
        f"skopeo copy --src-authfile {authfile}"
        f" docker://{DOMAIN}/rainbond/e2e@{digest} oci:{WORK}/pulled:latest",
    )
    index = json.loads(on(PULLER, f"cat {WORK}/pulled/index.json"))
    assert [m["digest"] for m in index["manifests"]] == [digest]


def test_push_without_credentials_is_refused(stack: tuple[auto.Stack, Any], skopeo: None) -> None:
    archive, _ = oci_image()
    on(PUSHER, f"rm -rf {WORK} && mkdir -p {WORK} && tar -x -C {WORK}", stdin=archive)
    result = on(
        PUSHER,
        f"REGISTRY_AUTH_FILE={WORK}/none.json skopeo copy oci:{WORK}/layout:latest"
        f" docker://{DOMAIN}/rainbond/anonymous:1",
        check=False,
    )
    code, _, output = result.partition("\n")
    assert code != "0"
    assert "authentication required" in output or "401" in output, output


# docs/registry.md, "Backing up the images": the data directory, copied while the registry is
# stopped, and copied back.
DATA = "/var/lib/docker-registry"
STOP, START = "systemctl stop docker-registry", "systemctl start docker-registry"
BACKUP = f"{STOP} && tar -C {DATA} -czf - . && {START}"
RESTORE = f"{STOP} && tar -C {DATA} -xzf - && chown -R docker-registry: {DATA} && {START}"


def test_images_come_back_from_a_copy_of_the_data_directory(
    stack: tuple[auto.Stack, Any],
) -> None:
    registry = stack[1]["registry"].value
    manifest = Manifest(
        DOMAIN, registry["username"], registry["password"], on("node3", f"cat {CA_FILE}")
    )
    digest = manifest.push("rainbond/backup-test", "1")
    fetch = manifest.fetcher("rainbond/backup-test", "1", digest)
    copy = audit_on("node3", f"{{ {BACKUP}; }} | base64 -w0")
    audit_on(
        "node3",
        f"{STOP} && rm -rf {DATA}/docker && {START}",
    )
    with pytest.raises(urllib.error.HTTPError):
        wait_answering(fetch)
    audit_on("node3", f"base64 -d | {{ {RESTORE}; }}", copy)
    assert wait_answering(fetch) == digest


def wait_answering(fetch: Callable[[int], str]) -> str:
    """What `fetch` returns once the registry answers again after a restart."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return fetch(0)
        except urllib.error.URLError as error:
            if isinstance(error, urllib.error.HTTPError) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_second_up_changes_nothing(stack: tuple[auto.Stack, Any]) -> None:
    preview = stack[0].preview(color="never")
    assert set(preview.change_summary) == {"same"}, preview.change_summary


def test_destroy_cleans_the_nodes_and_keeps_images(stack: tuple[auto.Stack, Any]) -> None:
    stack[0].destroy(color="never", on_output=print)
    for node in NODES:
        assert on(node, f"test -e {CA_FILE}", check=False).startswith("1\n"), node
        for hosts_toml in (HOSTS_TOML, PUSHED_HOSTS_TOML):
            assert on(node, f"test -e {hosts_toml}", check=False).startswith("1\n"), node
        assert "goodrain.me" not in on(node, "cat /etc/hosts"), node
        assert "rainbond-ha-registry" not in on(node, "ls /etc/ssl/certs"), node
    assert on("node3", "dpkg-query -W docker-registry", check=False).startswith("1\n")
    assert on("node3", "test -e /etc/docker/registry", check=False).startswith("1\n")
    unit = "/etc/systemd/system/rainbond-ha-registry-http.service"
    assert on("node3", f"test -e {unit}", check=False).startswith("1\n")
    assert on("node3", "test -e /var/lib/rainbond-ha/registry", check=False).startswith("1\n")
    repositories = "/var/lib/docker-registry/docker/registry/v2/repositories"
    assert "e2e" in on("node3", f"ls {repositories}/rainbond")
