"""The command plugin's state carries pulumi-command v1.2.1's secrecy, nested secrets included.

Upstream's Check marks `connection` secret and, inside it, `password`, `privateKey` and
`privateKeyPassword`; state written with another secrecy makes upstream's diff see every
`connection` as changed and re-run every step once. The steps here have no create script, so
nothing dials: what is checked is what the plugin writes into the state.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from tests.e2e.engine import PROJECT_ROOT, exported_state, stack, write_project_file

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\\nnot a key\\n-----END OPENSSH PRIVATE KEY-----\\n"

# The connection as components/remote.py builds it (the key a secret Output), and one relying on
# upstream's defaults with a password.
PROGRAM = textwrap.dedent(
    f"""\
    import pulumi
    from pulumi_command import remote

    remote.Command(
        "step",
        connection=remote.ConnectionArgs(
            host="127.0.0.1",
            port=2222,
            user="admin",
            private_key=pulumi.Output.secret("{KEY}"),
            host_key="{HOST_KEY}",
            dial_error_limit=5,
            per_dial_timeout=10,
        ),
        triggers=["v1"],
        stdin=pulumi.Output.secret("a password on stdin"),
        logging=remote.Logging.NONE,
        add_previous_output_in_env=False,
    )
    remote.Command(
        "defaults",
        connection=remote.ConnectionArgs(host="127.0.0.1", password="a login password"),
    )
    """
)


def secret_value(value: Any) -> Any:
    """The value inside a secret marker of `stack export --show-secrets`; fails if not one."""
    assert isinstance(value, dict) and value.items() >= SECRET_SIG.items(), value
    return json.loads(value["plaintext"])


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.items() >= SECRET_SIG.items()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> auto.Stack:
    where = tmp_path_factory.mktemp("secrets")
    project = where / "project"
    project.mkdir()
    write_project_file(project, "secrets")
    (project / "__main__.py").write_text(PROGRAM)
    s = stack("secrets", project, where / "state")
    assert s.up().summary.resource_changes == {"create": 3}
    return s


def resources(s: auto.Stack) -> dict[str, dict[str, Any]]:
    state = json.loads(exported_state(s, show_secrets=True))["deployment"]["resources"]
    return {r["urn"].split("::")[-1]: r for r in state if r["type"] == "command:remote:Command"}


@pytest.mark.parametrize("part", ["inputs", "outputs"])
def test_the_key_is_a_secret_inside_the_secret_connection(deployed: auto.Stack, part: str) -> None:
    connection = secret_value(resources(deployed)["step"][part]["connection"])
    assert secret_value(connection["privateKey"]) == KEY.replace("\\n", "\n")
    # What upstream does not mark stays a plain value inside.
    assert connection["host"] == "127.0.0.1" and connection["user"] == "admin"
    assert connection["port"] == 2222 and connection["dialErrorLimit"] == 5
    assert connection["hostKey"] == HOST_KEY
    assert not any(is_secret(v) for k, v in connection.items() if k != "privateKey")


@pytest.mark.parametrize("part", ["inputs", "outputs"])
def test_upstreams_defaults_and_a_nested_password(deployed: auto.Stack, part: str) -> None:
    connection = secret_value(resources(deployed)["defaults"][part]["connection"])
    assert secret_value(connection["password"]) == "a login password"
    assert {k: connection[k] for k in ("user", "port", "dialErrorLimit", "perDialTimeout")} == {
        "user": "root",
        "port": 22,
        "dialErrorLimit": 10,
        "perDialTimeout": 15,
    }


def test_other_inputs_keep_the_programs_secrecy(deployed: auto.Stack) -> None:
    step = resources(deployed)["step"]
    for part in ("inputs", "outputs"):
        assert secret_value(step[part]["stdin"]) == "a password on stdin"
        assert step[part]["triggers"] == ["v1"] and step[part]["logging"] == "none"
    assert step["outputs"]["stdout"] == "" and step["outputs"]["stderr"] == ""


def test_nothing_secret_is_in_the_state_in_plain_text(deployed: auto.Stack) -> None:
    state = exported_state(deployed)
    for secret in ("not a key", "a password on stdin", "a login password"):
        assert secret not in state


def real_install_env(home: Path) -> dict[str, str]:
    """The environment of a `pulumi` installed the usual way: its own PULUMI_HOME holding the
    plugins, and none of the offline settings toolchain/.env adds."""
    offline = {
        line.split("=", 1)[0].removeprefix("export ")
        for line in (PROJECT_ROOT / "toolchain" / ".env").read_text().splitlines()
        if line.startswith("export PULUMI_")
    }
    # The same plugins, each in a folder of its own: the engine does not count a linked folder.
    for entry in (Path(os.environ["PULUMI_HOME"]) / "plugins").iterdir():
        if entry.is_dir():
            (home / "plugins" / entry.name).mkdir(parents=True)
            for item in entry.iterdir():
                (home / "plugins" / entry.name / item.name).symlink_to(item)
    env = {k: v for k, v in os.environ.items() if k not in offline}
    return {**env, "PULUMI_HOME": str(home)}


def test_a_second_preview_as_a_real_install_shows_no_change(
    deployed: auto.Stack, tmp_path: Path
) -> None:
    workspace = deployed.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir
    # The stack's backend and passphrase, nothing else of the offline environment.
    env = {**real_install_env(tmp_path / "home"), **(workspace.env_vars or {})}
    assert "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION" not in env
    preview = subprocess.run(
        ["pulumi", "preview", "--stack", deployed.name, "--expect-no-changes", "--diff"],
        cwd=workspace.work_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "3 unchanged" in preview.stdout, preview.stdout


def test_a_change_of_secrecy_alone_is_a_change_as_upstream_sees_it(deployed: auto.Stack) -> None:
    workspace = deployed.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir
    program = Path(workspace.work_dir) / "__main__.py"
    plain = PROGRAM.replace('pulumi.Output.secret("a password on stdin")', '"a password on stdin"')
    assert plain != PROGRAM
    program.write_text(plain)
    try:
        assert deployed.preview().change_summary == {"same": 2, "update": 1}
    finally:
        program.write_text(PROGRAM)


def test_a_dead_agent_socket_fails_the_step_at_once_as_upstream(tmp_path: Path) -> None:
    project = tmp_path / "agent"
    project.mkdir()
    write_project_file(project, "agent")
    (project / "__main__.py").write_text(
        "from pulumi_command import remote\n"
        "remote.Command('step', create='true', connection=remote.ConnectionArgs(\n"
        "    host='127.0.0.1', port=1, password='x', dial_error_limit=3))\n"
    )
    dead = tmp_path / "agent.sock"
    s = stack("agent", project, tmp_path / "state", {"SSH_AUTH_SOCK": str(dead)})
    with pytest.raises(auto.CommandError) as failed:
        s.up()
    assert f"dial unix {dead}: connect: no such file or directory" in str(failed.value)
    assert "failed attempts" not in str(failed.value)
