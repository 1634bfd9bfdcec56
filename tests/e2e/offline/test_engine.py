"""The engine runs preview, up and destroy offline, with plugins at the pinned versions."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from pulumi import automation as auto

from tests.e2e.engine import PROJECT_ROOT, exported_state, pulumi_cli, stack, toolchain_versions

TINY_PROGRAM = """
import pulumi
import pulumi_random as random
from pulumi_command import local

password = random.RandomPassword("password", length=24, special=False)
greeting = local.Command(
    "greeting",
    create="printf 'hello from %s' \\"$(cat)\\"",
    stdin="rainbond",
    delete="true",
)
pulumi.export("password", password.result)
pulumi.export("greeting", greeting.stdout)
"""


def tiny_project(where: Path) -> Path:
    where.mkdir()
    (where / "Pulumi.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: tiny
            runtime:
              name: python
              options:
                virtualenv: {PROJECT_ROOT / ".venv"}
            """
        )
    )
    (where / "__main__.py").write_text(TINY_PROGRAM)
    return where


def test_pulumi_reports_the_pinned_version() -> None:
    assert pulumi_cli("version").strip() == "v" + toolchain_versions()["PULUMI_VERSION"]


def test_plugins_are_installed_at_the_versions_the_sdks_ask_for() -> None:
    pins = toolchain_versions()
    installed = {
        (p["name"], p["version"]) for p in json.loads(pulumi_cli("plugin", "ls", "--json"))
    }
    assert ("kubernetes", pins["PLUGIN_KUBERNETES_VERSION"]) in installed
    assert ("command", pins["PLUGIN_COMMAND_VERSION"]) in installed
    assert ("random", pins["PLUGIN_RANDOM_VERSION"]) in installed


def test_tiny_stack_previews_deploys_and_destroys_offline(tmp_path: Path) -> None:
    s = stack("tiny", tiny_project(tmp_path / "tiny"), tmp_path / "state")

    preview = s.preview()
    assert preview.change_summary == {"create": 3}

    up = s.up()
    assert up.outputs["greeting"].value == "hello from rainbond"
    password = up.outputs["password"]
    assert password.secret and len(password.value) == 24

    state = exported_state(s)
    assert password.value not in state, "the password must be stored encrypted"
    secret = json.loads(state)["deployment"]["resources"]
    result = next(r for r in secret if r["type"].endswith("RandomPassword"))["outputs"]["result"]
    assert result["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    assert "ciphertext" in result

    again = s.up()
    assert again.summary.resource_changes == {"same": 3}

    s.destroy()
    assert json.loads(exported_state(s))["deployment"].get("resources") in (None, [])


def test_a_missing_plugin_fails_at_once_instead_of_downloading(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "needs-tls")
    (project / "__main__.py").write_text(
        "import pulumi\n"
        "pulumi.CustomResource('tls:index/privateKey:PrivateKey', 'k', {},"
        " opts=pulumi.ResourceOptions(version='9.9.9'))\n"
    )
    s = stack("needs-tls", project, tmp_path / "state")
    try:
        s.preview()
    except auto.CommandError as error:
        assert "not installed" in str(error) or "no resource plugin" in str(error)
    else:
        raise AssertionError("a plugin that is not installed must fail the preview")


DYNAMIC_PROGRAM = """
import sys

sys.path.insert(0, {root!r})

import pulumi
from components.shared.drift import DriftProbe

DriftProbe(
    "probe",
    node="here",
    step="tiny",
    probe="cat >/dev/null; test ! -e {marker!r} || echo {marker!r} changed",
    private_key="not a key",
    opts=pulumi.ResourceOptions(),
)
"""


def test_a_dynamic_resource_runs_offline_and_reads_on_refresh(tmp_path: Path) -> None:
    project = tiny_project(tmp_path / "dynamic")
    marker = tmp_path / "drifted"
    program = DYNAMIC_PROGRAM.format(root=str(PROJECT_ROOT), marker=str(marker))
    (project / "__main__.py").write_text(program)
    s = stack("dynamic", project, tmp_path / "state")

    assert s.up().summary.resource_changes == {"create": 2}
    assert s.preview(refresh=True).change_summary == {"same": 2}
    marker.touch()
    s.refresh()
    probe = next(
        r
        for r in json.loads(exported_state(s))["deployment"]["resources"]
        if r["type"] == "pulumi-python:dynamic/drift:Probe"
    )
    assert probe["outputs"]["repairs"] == 1
    assert probe["outputs"]["lastDrift"] == f"{marker} changed"
    assert "not a key" not in exported_state(s), "the key must be stored encrypted"
    s.destroy()
