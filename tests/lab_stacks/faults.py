"""Helpers for the fault tests: `pulumi up` as a process one can signal, and what a node holds.

`UpProcess` runs `pulumi up` through the CLI in its own process group, so a test can wait until
remote steps are running (read from its output, as an operator would) and then interrupt it as
Ctrl-C or a crash (SIGKILL) would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from lab.labctl import boot_node, require_lab_up
from tests.e2e.engine import exported_state
from tests.lab_stacks.audit import on
from tests.lab_stacks.harness import component_stack

REMOTE_COMMAND = "command:remote:Command"
# A progress line of `pulumi up`: "+  command:remote:Command <name> creating (2s) <output>".
STEP_PROGRESS = re.compile(
    rf"{REMOTE_COMMAND} (\S+) (creating|created|updating|updated|\*\*creating failed\*\*)"
)

# What an operator would compare on a node: installed packages, services, files we could write.
SNAPSHOT = (
    "dpkg-query -W -f='${Package} ${Status}\\n' | sort;"
    " systemctl list-unit-files --type=service --no-legend --no-pager | sort;"
    " systemctl list-units --type=service --state=running --no-legend --no-pager --plain"
    " | awk '{print $1}' | sort;"
    " find /etc /opt -xdev -printf '%p %s %T@\\n' | sort"
)


def node_snapshot(node: str) -> list[str]:
    return on(node, SNAPSHOT).splitlines()


def node_steps(stack: auto.Stack) -> list[str]:
    """Names of the remote steps recorded in the stack's state."""
    resources = json.loads(exported_state(stack))["deployment"].get("resources", [])
    return sorted(r["urn"].rsplit("::", 1)[1] for r in resources if r["type"] == REMOTE_COMMAND)


def pending_operations(stack: auto.Stack) -> list[dict[str, Any]]:
    pending: list[dict[str, Any]] = json.loads(exported_state(stack))["deployment"].get(
        "pending_operations", []
    )
    return pending


def cli_env(stack: auto.Stack) -> tuple[Path, dict[str, str]]:
    """The stack's project folder and the environment its pulumi commands need."""
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir
    return Path(workspace.work_dir), {**os.environ, **(workspace.env_vars or {})}


def pulumi(stack: auto.Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """One pulumi CLI command on the stack, as an operator types it; never raises."""
    folder, env = cli_env(stack)
    return subprocess.run(
        ["pulumi", *args, "--stack", stack.name, "--non-interactive"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@contextlib.contextmanager
def platform_stack(name: str, where: Path, restart: str | None = None) -> Iterator[auto.Stack]:
    """A whole-platform stack on the lab; afterwards node `restart` is up again and it is gone."""
    require_lab_up()
    stack = component_stack(name, where, ["platform"])
    try:
        yield stack
    finally:
        try:
            if restart is not None:
                boot_node(restart)
        finally:
            # A killed run leaves the stack locked; without this the destroy would refuse to run.
            pulumi(stack, "cancel", "--yes")
            stack.destroy()


class UpProcess:
    """`pulumi up --yes` running in the background, in its own process group."""

    def __init__(self, stack: auto.Stack, log_dir: Path) -> None:
        folder, env = cli_env(stack)
        self.output = log_dir / "up.log"
        with self.output.open("w") as out:
            self.process = subprocess.Popen(
                [
                    "pulumi",
                    "up",
                    "--yes",
                    "--skip-preview",
                    "--non-interactive",
                    "--stack",
                    stack.name,
                ],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running_steps(self) -> set[str]:
        """Remote steps the output shows started and not yet finished, as an operator sees it."""
        started: set[str] = set()
        finished: set[str] = set()
        for line in self.text().splitlines():
            match = STEP_PROGRESS.search(line)
            if match:
                name, state = match.groups()
                (started if state in ("creating", "updating") else finished).add(name)
        return started - finished

    def wait_until(
        self, what: str, predicate: Callable[[set[str]], bool], timeout: float = 300
    ) -> set[str]:
        """Polls the running steps until `predicate` holds for them; returns them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = self.running_steps()
            if predicate(running):
                return running
            if self.process.poll() is not None:
                raise AssertionError(f"pulumi up ended before {what}:\n{self.text()}")
            time.sleep(0.2)
        raise AssertionError(f"{what}: not within {timeout} s:\n{self.text()}")

    def signal(self, signum: int) -> None:
        """Sends `signum` to pulumi's process group, as a terminal's Ctrl-C does."""
        os.killpg(self.process.pid, signum)

    def crash(self) -> None:
        """SIGKILL to pulumi and every plugin it started, as when its machine dies.

        The plugins run in process groups of their own and outlive a killed engine, still
        holding their SSH sessions; a lost CI runner takes them down too.
        """
        for pid in _session(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """Ends whatever of this run is still alive, plugins included."""
        self.crash()
        self.process.wait(timeout=30)

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def _session(leader: int) -> list[int]:
    """The processes in the session `leader` started, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name (field 2) may hold spaces; the fields after it do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == leader:
                members.append(int(stat.parent.name))
    return members
