"""Drift probes: one per owning step, repairs feed the step's create (an update in place), the
key stays secret, the provider unpickles without this project, and the node scripts report."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.shared import remote
from components.shared.drift import _provider
from tests.unit.conftest import Deployment, Mocks, deploy, edited, is_secret, unwrap
from tests.unit.plan import change

COMMAND = "command:remote:Command"
PROBE = "pulumi-python:dynamic/drift:Probe"
OWNING = {
    "gateway-keepalived-rbd-1",
    "gateway-keepalived-rbd-2",
    "database-server-rbd-1",
    "database-server-rbd-2",
    "database-source",
    "registry-server",
    # The API VIP's keepalived instances on the masters (rke2 with an API VIP).
    "kubernetes-api-vip-rbd-1",
    "kubernetes-api-vip-rbd-2",
    "kubernetes-api-vip-rbd-3",
}


def test_each_owning_step_has_its_probe_registered_first(dev: Deployment) -> None:
    probes = {probe.name.removesuffix("-drift"): probe for probe in dev.of_type(PROBE)}
    assert set(probes) == OWNING
    order = list(dev.registrations)
    for name, probe in probes.items():
        step = dev.named(name)
        assert order.index(probe.urn) < order.index(step.urn), name
        assert probe.parent == step.parent
        assert set(probe.dependencies) <= set(step.dependencies), name
        assert probe.urn in step.dependencies, f"{name} must wait for its probe's count"


def test_owning_steps_record_and_forget_their_manifest(dev: Deployment) -> None:
    for name in OWNING:
        step = dev.named(name)
        create, delete = unwrap(step.inputs["create"]), unwrap(step.inputs["delete"])
        assert not create.startswith("# repair"), "no refresh has found drift yet"
        assert create.endswith(f"&& {record_command(create)}")
        assert f"STEP={name}\n" in shlex.split(create)[-1]
        assert delete.split(" && ")[-1].startswith("bash -c ")
        assert "drift: forgot" in shlex.split(delete)[-1]
    for step in dev.of_type(COMMAND):
        if step.name not in OWNING:
            assert "MANIFESTS=" not in str(unwrap(step.inputs.get("create"))), step.name


def record_command(create: str) -> str:
    """The last `bash -c ...` of a create command."""
    return "bash -c " + shlex.quote(shlex.split(create)[-1])


def test_repairs_feed_the_create_and_update_the_step_in_place(
    dev: Deployment, dev_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fabricate = Mocks.new_resource

    def found_drift(self: Mocks, args: Any) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = fabricate(self, args)
        if args.typ == PROBE:
            state["repairs"] = 3
        return resource_id, state

    monkeypatch.setattr(Mocks, "new_resource", found_drift)
    drifted = deploy(dev_config)
    for name in OWNING:
        before, after = dev.named(name), drifted.named(name)
        assert unwrap(after.inputs["create"]) == "# repair 3\n" + unwrap(before.inputs["create"])
        # The engine updates the step in place, its delete does not run.
        assert change(before, after) == "update"
        assert after.inputs["delete"] == before.inputs["delete"]


def test_the_key_reaches_the_probe_only_as_a_secret(dev: Deployment, home: Path) -> None:
    key = (home / ".ssh" / "rainbond_ha_ed25519").read_text()
    for probe in dev.of_type(PROBE):
        assert is_secret(probe.inputs["privateKey"])
        assert unwrap(probe.inputs["privateKey"]) == key
        plain = {k: v for k, v in probe.inputs.items() if k not in ("privateKey", "__provider")}
        assert "PRIVATE KEY" not in str(plain)
        # The key is read from stdin into a private file: never argv.
        assert 'cat >"$dir/key"' in probe.inputs["probe"]


@pytest.mark.parametrize("port", [22, 2222])
def test_the_probe_pins_the_host_key_under_the_name_ssh_looks_up(
    dev_config: dict[str, Any], port: int
) -> None:
    stack = deploy(edited(dev_config, lambda config: config["ssh"].update(port=port)))
    known_as = "192.0.2.11" if port == 22 else "[192.0.2.11]:2222"
    probe = next(p for p in stack.of_type(PROBE) if p.name == "database-server-rbd-1-drift")
    assert f"printf '%s %s\\n' {shlex.quote(known_as)} 'ssh-ed25519 " in probe.inputs["probe"]
    assert f"-o BatchMode=yes -p {port} " in probe.inputs["probe"]


PROVIDER_CHECK = """
import base64, sys
import dill
assert "components" not in sys.modules
provider = dill.loads(base64.b64decode(sys.stdin.read()))
made = provider.create({"node": "n1", "step": "s", "probe": "true", "privateKey": "k"})
assert made.id == "n1/s" and made.outs["repairs"] == 0, made.outs
drifted = dict(made.outs, probe="cat >/dev/null; echo /etc/x changed; echo keepalived inactive")
found = provider.read(made.id, drifted).outs
assert found["repairs"] == 1, found
assert found["lastDrift"] == "/etc/x changed; keepalived inactive", found
clean = provider.read(made.id, dict(found, probe="true")).outs
assert (clean["repairs"], clean["lastDrift"]) == (1, found["lastDrift"]), clean
assert not provider.diff(made.id, found, dict(found, repairs=5)).changes
assert provider.diff(made.id, found, dict(found, node="n2")).changes
try:
    provider.read(made.id, dict(made.outs, probe="echo refused >&2; exit 255"))
except RuntimeError as error:
    assert "cannot check n1" in str(error) and "refused" in str(error), error
else:
    raise AssertionError("an unreachable node must fail the refresh")
print("ok")
"""


def test_the_provider_runs_where_this_project_cannot_be_imported(tmp_path: Path) -> None:
    # The provider process has the SDK but not this project: a cwd and path without it.
    result = subprocess.run(
        [sys.executable, "-c", PROVIDER_CHECK],
        input=serialize_provider(_provider()),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=60,
    )
    assert result.stdout.strip() == "ok", result.stderr


def run_script(name: str, tmp_path: Path, **params: str) -> str:
    header = "".join(f"{key}={shlex.quote(value)}\n" for key, value in params.items())
    result = subprocess.run(
        ["bash", "-c", header + getattr(remote, name.upper()).text],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def test_the_node_scripts_record_probe_and_forget(tmp_path: Path) -> None:
    owned = tmp_path / "etc" / "owned.conf"
    owned.parent.mkdir()
    owned.write_text("as rendered\n")
    manifests = tmp_path / "state" / "manifests"
    names = {"MANIFESTS": str(manifests), "STEP": "some-step"}
    record = {**names, "OWNED_FILES": str(owned), "OWNED_SERVICES": "rainbond-ha-no-such-unit"}
    assert "recorded 1 files and 1 services" in run_script("record", tmp_path, **record)
    assert (manifests / "some-step").stat().st_mode & 0o777 == 0o700

    report = run_script("probe", tmp_path, **names).splitlines()
    assert report[0].startswith("rainbond-ha-no-such-unit "), report  # not active
    assert len(report) == 1
    owned.write_text("edited by hand\n")
    assert f"{owned} changed" in run_script("probe", tmp_path, **names)
    owned.unlink()
    assert f"{owned} missing" in run_script("probe", tmp_path, **names)

    assert "drift: forgot some-step" in run_script("forget", tmp_path, **names)
    assert not (tmp_path / "state").exists()
    unrecorded = run_script("probe", tmp_path, **names)
    assert unrecorded.startswith("no record of some-step"), unrecorded


def test_a_declared_file_that_is_not_there_fails_the_record(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_script(
            "record",
            tmp_path,
            MANIFESTS=str(tmp_path / "m"),
            STEP="s",
            OWNED_FILES=str(tmp_path / "absent"),
            OWNED_SERVICES="",
        )
    assert "is not on this node" in failed.value.stderr
