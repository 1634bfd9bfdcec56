"""`ssh.knownHostsFile`: each node without its own hostKey is pinned to the file's key for it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from config import known_hosts
from config.rules import Files
from config.validate import validate
from tests.unit.conftest import ROOT, deploy, edited, unwrap

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0hLJFzZ/Y8nnWFRJrUSzGxALS2Osif7WyANicbpTQ2"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFH49VLm8iXPbOPUju15ldhHP2b5FxesrQTRrdyTWxPx"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTZmYWtlIGtleSBtYXRlcmlhbA=="
RSA = "ssh-rsa AAAAB3NzaC1yc2FmYWtlIGtleSBtYXRlcmlhbA=="


def hashed(name: str) -> str:
    """A host name as `ssh-keygen -H` writes it."""
    salt = b"0123456789abcdefghij"
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def key_for(text: str, *names: str, port: int = 22) -> str | None:
    return known_hosts.host_key(known_hosts.parse(text), names, port)


@pytest.mark.parametrize(
    ("text", "names", "port", "expected"),
    [
        (f"rbd-1,192.0.2.11 {ED25519}\n", ("192.0.2.11",), 22, ED25519),
        (f"rbd-1,192.0.2.11 {ED25519}\n", ("192.0.2.99", "rbd-1"), 22, ED25519),
        (f"192.0.2.11 {ED25519}\n", ("192.0.2.12",), 22, None),
        (f"[192.0.2.11]:2222 {ED25519}\n192.0.2.11 {OTHER}\n", ("192.0.2.11",), 2222, ED25519),
        (f"[192.0.2.11]:2222 {ED25519}\n", ("192.0.2.11",), 22, None),
        (f"192.0.2.* {ED25519}\n", ("192.0.2.11",), 22, ED25519),
        (f"192.0.2.*,!192.0.2.11 {ED25519}\n", ("192.0.2.11",), 22, None),
        (f"{hashed('192.0.2.11')} {ED25519}\n", ("192.0.2.11",), 22, ED25519),
        (f"{hashed('192.0.2.11')} {ED25519}\n", ("192.0.2.12",), 22, None),
        (
            f"# comment\n\n@cert-authority * {OTHER}\nrbd-1 {ED25519} root@rbd-1\n",
            ("rbd-1",),
            22,
            ED25519,
        ),
        (f"rbd-1 {RSA}\nrbd-1 {ECDSA}\nrbd-1 {ED25519}\n", ("rbd-1",), 22, ED25519),
        (f"rbd-1 {RSA}\nrbd-1 {ECDSA}\n", ("rbd-1",), 22, ECDSA),
        (f"rbd-1 {ED25519}\n192.0.2.11 {RSA}\n", ("192.0.2.11", "rbd-1"), 22, RSA),
    ],
    ids=[
        "address",
        "name",
        "absent",
        "other-port",
        "other-port-only",
        "wildcard",
        "negated",
        "hashed",
        "hashed-other",
        "comments-markers-trailing-comment",
        "prefers-ed25519",
        "then-ecdsa",
        "address-before-name",
    ],
)
def test_lookup(text: str, names: tuple[str, ...], port: int, expected: str | None) -> None:
    assert key_for(text, *names, port=port) == expected


@pytest.mark.parametrize(
    "text",
    [f"{ED25519}\n", "rbd-1 ssh-ed25519\n", "rbd-1 ssh-foo AAAA\n", "rbd-1 ssh-ed25519 not-b64!\n"],
    ids=["no-host", "no-key", "unknown-type", "bad-base64"],
)
def test_unparsable_line_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="line 1 is not"):
        known_hosts.parse(f"{text}")


def with_known_hosts(config: dict[str, Any], path: Path) -> dict[str, Any]:
    def edit(c: dict[str, Any]) -> None:
        c["ssh"]["knownHostsFile"] = str(path)

    return edited(config, edit)


def problems(config: dict[str, Any]) -> list[str]:
    return [str(f) for f in validate(config, root=ROOT, files=Files.REQUIRED).problems]


def test_node_missing_from_the_file_is_named(dev_config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(f"rbd-1,192.0.2.11 {ED25519}\n192.0.2.12 {OTHER}\n")
    assert problems(with_known_hosts(dev_config, path)) == [
        f"ssh.knownHostsFile: {path} has no host key for node rbd-3 (192.0.2.13); add"
        " `ssh-keyscan -p 22 192.0.2.13` to it, or set nodes[2].ssh.hostKey"
    ]
    # A node's own hostKey makes the file's entry unnecessary.
    own = edited(
        with_known_hosts(dev_config, path), lambda c: c["nodes"][2].update(ssh={"hostKey": RSA})
    )
    assert problems(own) == []


def test_missing_and_unparsable_files(dev_config: dict[str, Any], tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    assert problems(with_known_hosts(dev_config, absent)) == [
        f"ssh.knownHostsFile: {absent} does not exist; create it or point to an OpenSSH"
        " known_hosts file"
    ]
    garbled = tmp_path / "garbled"
    garbled.write_text(f"rbd-1 {ED25519}\n{OTHER}\n")
    (line,) = problems(with_known_hosts(dev_config, garbled))
    assert line.startswith(f"ssh.knownHostsFile: {garbled} cannot be read as known_hosts (line 2")


def test_steps_connect_with_the_pinned_keys(dev_config: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    keys = {"192.0.2.11": ED25519, "192.0.2.12": OTHER, "192.0.2.13": ECDSA}
    path.write_text("".join(f"{address} {key}\n" for address, key in keys.items()))
    config = with_known_hosts(dev_config, path)
    config["nodes"][0]["ssh"] = {"hostKey": RSA}  # a node's own key wins over the file
    keys["192.0.2.11"] = RSA
    steps = deploy(config).of_type("command:remote:Command")
    assert {unwrap(step.inputs["connection"])["host"] for step in steps} == set(keys)
    for step in steps:
        connection = unwrap(step.inputs["connection"])
        assert connection["hostKey"] == keys[connection["host"]], step.name
