"""The trust step in RKE2 mode on a real node: registries.yaml from stdin, 0600, naming a CA file
that exists; then its delete script leaves the node as before. (The lab stack runs `existing`
Kubernetes, so the e2e test covers hosts.toml and this one covers registries.yaml.)
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from components.registry import files
from components.registry.component import TRUST
from components.shared.remote import render
from lab.labctl import VIP, node_address, require_lab_up, ssh_argv

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

NODE = "node1"
DOMAIN = f"{node_address('node3')}:5000"
# The managed registry's plain-HTTP address, whose images nodes pull from DOMAIN.
PUSHED = f"{node_address('node3')}:5080"


def on(command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ssh_argv(NODE, command), input=stdin, capture_output=True, text=True, timeout=120
    )


def test_rke2_trust_and_its_removal(tmp_path: Path) -> None:
    require_lab_up()
    subprocess.run(
        ["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-keyout", str(tmp_path / "ca.key"), "-out",
         str(tmp_path / "ca.crt"), "-days", "1", "-subj", "/CN=registry trust test"],
        check=True, capture_output=True,
    )  # fmt: skip
    endpoint = files.Endpoint(DOMAIN, ca_file=files.CA_FILE, mirrored=(PUSHED,))
    params = {
        "DOMAIN": DOMAIN,
        "MIRRORED": PUSHED,
        "CERTS_D": files.CERTS_D,
        "HOSTS_TOML": files.hosts_toml(endpoint),
        "HOSTS_LINES": files.hosts_entries({files.GOODRAIN_ME: VIP}),
        "CA_FILE": files.CA_FILE,
        "CA_PEM": (tmp_path / "ca.crt").read_text().strip(),
        "RKE2_REGISTRIES": files.RKE2_REGISTRIES,
    }
    hosts_before = on("cat /etc/hosts").stdout
    rancher_before = on("test -e /etc/rancher").returncode
    registries = files.rke2_registries(endpoint, "rainbond", "not-a-real-password")
    try:
        for _ in range(2):  # idempotent
            created = on(render(TRUST.text, params), stdin=registries)
            assert created.returncode == 0, created.stderr
        assert "not-a-real-password" not in created.stdout + created.stderr
        assert on(f"stat -c %a {files.RKE2_REGISTRIES}").stdout.strip() == "600"
        written = yaml.safe_load(on(f"cat {files.RKE2_REGISTRIES}").stdout)
        ca_file = written["configs"][DOMAIN]["tls"]["ca_file"]
        assert on(f"openssl x509 -noout -in {ca_file}").returncode == 0
        assert on("getent hosts goodrain.me").stdout.split() == [VIP, "goodrain.me"]
        assert on("cat /etc/hosts").stdout.count("goodrain.me") == 1
        # Both names pull from the TLS address; a name no longer served loses its file.
        for name in (DOMAIN, PUSHED):
            hosts = on(f"cat {files.CERTS_D}/{name}/hosts.toml").stdout
            assert tomllib.loads(hosts)["server"] == f"https://{DOMAIN}", name
        moved = f"{node_address('node3')}:5081"
        created = on(render(TRUST.text, {**params, "MIRRORED": moved}), stdin=registries)
        assert created.returncode == 0, created.stderr
        assert on(f"test -e {files.CERTS_D}/{PUSHED}").returncode == 1
        assert on(f"test -e {files.CERTS_D}/{moved}/hosts.toml").returncode == 0
        params["MIRRORED"] = moved
    finally:
        deleted = on(render(TRUST.delete.text, params))
    assert deleted.returncode == 0, deleted.stderr
    for path in (files.RKE2_REGISTRIES, files.CA_FILE, files.CERTS_D):
        assert on(f"test -e {path}").returncode == 1, path
    assert on("cat /etc/hosts").stdout == hosts_before
    assert on("test -e /etc/rancher").returncode == rancher_before
