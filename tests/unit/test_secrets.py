"""Every password, key and kubeconfig stays a secret from generation to stack output."""

from __future__ import annotations

from typing import Any

from tests.unit.conftest import Deployment, fake_password, is_secret, iter_strings

COMMAND = "command:remote:Command"


def plain_strings(value: Any) -> list[str]:
    """Every string in `value` that is not inside a secret."""
    if is_secret(value):
        return []
    if isinstance(value, dict):
        return [s for item in value.values() for s in plain_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in plain_strings(item)]
    return list(iter_strings(value))


def generated(dev: Deployment) -> list[str]:
    return [
        fake_password(r.name, int(r.inputs["length"]))
        for r in dev.of_type("random:index/randomPassword:RandomPassword")
    ]


def test_every_generated_password(dev: Deployment) -> None:
    assert sorted(r.name for r in dev.of_type("random:index/randomPassword:RandomPassword")) == [
        "database-password",
        "database-replication-password",
        "gateway-keepalived-auth",
        "kubernetes-api-vip-auth",
        "kubernetes-token",
        "registry-http-secret",
        "registry-password",
    ]
    lengths = {
        r.name: r.inputs["length"]
        for r in dev.of_type("random:index/randomPassword:RandomPassword")
    }
    assert lengths["gateway-keepalived-auth"] == 8  # VRRP PASS auth takes 8 characters


def test_no_password_reaches_a_resource_in_plain_text(dev: Deployment) -> None:
    passwords = generated(dev)
    for registration in dev.registrations.values():
        for text in plain_strings(registration.inputs):
            assert not any(p in text for p in passwords), registration.name


def test_secrets_travel_on_stdin_with_logging_off(dev: Deployment) -> None:
    with_stdin = [r for r in dev.of_type(COMMAND) if "stdin" in r.inputs]
    assert len(with_stdin) == 17  # 5 keepalived, 3 RKE2 servers, registry 4, database 5
    for step in with_stdin:
        assert is_secret(step.inputs["stdin"]), step.name
        assert step.inputs["logging"] == "none", step.name
    for step in dev.of_type(COMMAND):
        assert is_secret(step.inputs["connection"]), step.name  # it holds the private key


def test_release_values_are_secret(dev: Deployment) -> None:
    (release,) = dev.of_type("kubernetes:helm.sh/v3:Release")
    assert is_secret(release.inputs["values"])


def test_stack_outputs(dev: Deployment) -> None:
    assert dev.outputs["kubeconfig"].secret
    assert dev.outputs["database.secret_keys"].value == ["password"]
    assert dev.outputs["registry.secret_keys"].value == ["password"]
    for name in ("consoleUrl", "gatewayVip", "apiEndpoint"):
        assert not dev.outputs[name].secret
