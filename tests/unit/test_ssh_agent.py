"""A set but dead SSH_AUTH_SOCK stops the program before any step, saying how to fix it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import ssh_agent
from tests.unit.conftest import deploy


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Path]:
    """A socket something listens on, as an agent's does."""
    path = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        yield path


def test_unset_or_empty_is_fine() -> None:
    assert ssh_agent.problem({}) is None
    assert ssh_agent.problem({"SSH_AUTH_SOCK": ""}) is None


def test_a_live_agent_socket_is_fine(listening: Path) -> None:
    assert ssh_agent.problem({"SSH_AUTH_SOCK": str(listening)}) is None


def test_a_missing_socket_is_reported_with_the_fix(tmp_path: Path) -> None:
    gone = tmp_path / "ssh-XXXX" / "agent.1234"
    message = ssh_agent.problem({"SSH_AUTH_SOCK": str(gone)})
    assert message is not None
    assert f"SSH_AUTH_SOCK={gone}" in message
    assert "No such file or directory" in message
    assert "unset SSH_AUTH_SOCK" in message and "ssh-agent" in message


def test_a_socket_nobody_listens_on_is_reported(tmp_path: Path) -> None:
    stale = tmp_path / "agent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as closed:
        closed.bind(str(stale))  # bound, never listening: what a killed agent leaves behind
    message = ssh_agent.problem({"SSH_AUTH_SOCK": str(stale)})
    assert message is not None and "Connection refused" in message


def test_a_file_that_is_not_a_socket_is_reported(tmp_path: Path) -> None:
    plain = tmp_path / "agent.sock"
    plain.write_text("")
    assert ssh_agent.problem({"SSH_AUTH_SOCK": str(plain)}) is not None


def test_check_raises_a_run_error(tmp_path: Path) -> None:
    with pytest.raises(ssh_agent.DeadAgentError, match="unset SSH_AUTH_SOCK"):
        ssh_agent.check({"SSH_AUTH_SOCK": str(tmp_path / "none")})
    ssh_agent.check({})


def test_the_program_stops_at_once_with_the_fix(
    dev_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "gone.sock"))
    with pytest.raises(ssh_agent.DeadAgentError) as raised:
        deploy(dev_config)
    assert "unset SSH_AUTH_SOCK" in str(raised.value)


def test_the_program_runs_with_a_live_agent(
    dev_config: dict[str, Any], listening: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(listening))
    assert deploy(dev_config).of_type("command:remote:Command")
