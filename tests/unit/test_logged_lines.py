"""No step whose output is logged prints a line that could reach 64 KiB.

pulumi-command reads a logged step's output line by line with a 64 KiB limit; at a longer line its
reader stops and the step never ends (the stand-in fails the step instead). A kubeconfig, a
base64 blob without line breaks or a compact JSON document can be that long, so a step that
prints one must be quiet (`logging: none`) or send it somewhere else. This reads the scripts of
every logged step of the example stacks, as registered, for the commands that print such lines.
PEM (a certificate) is safe: its lines are at most 64 characters.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.conftest import ROOT, Deployment, Registration, deploy, stack_config, unwrap

COMMANDS = ("command:remote:Command", "command:local:Command")
STACKS = ["Pulumi.dev.yaml", "docs/examples/Pulumi.five-nodes.yaml"]

# What prints an unbounded line, and why.
PRODUCERS = {
    r"\bbase64\b[^|;&]*(-w\s*0|--wrap[= ]0)|\bopenssl\s+(enc\s+-)?base64\b[^|;&]*\s-A\b": (
        "base64 without line breaks"
    ),
    r"\btr\s+(-d\s+)?(-\S+\s+)?['\"]?(\\r)?\\n": "joins lines (tr)",
    r"\bpaste\s+(-\S*s\S*|--serial)": "joins lines (paste -s)",
    r"\bjq\b[^|;&]*\s(-\S*c\S*|--compact-output)\b": "compact JSON (jq -c)",
    r"\s-o\s*(json|jsonpath)\b|--output[= ](json|jsonpath)\b": "JSON output",
    r"\b(xxd\s+-p|hexdump|od)\b": "a hex dump",
    # A kubeconfig file read by a command that prints it (not one that merely uses it).
    r"\b(cat|sed|awk|head|tail|tac|grep|cut|base64|jq|yq|printf|echo)\b[^;&|]*"
    r"(\b(rke2|k3s)\.yaml\b|\badmin\.conf\b|\.kube/config\b|/\S*kubeconfig|\$\{?KUBECONFIG\b)"
    r"|(\bkubectl|\$\{KUBECTL\}\")\s+config\s+view\b": "a kubeconfig",
}
# Stdout sent to a file or nowhere (`>&2` still reaches the log, so it is not one).
SILENCED = re.compile(r"(^|[^0-9&>])(1?>>?|&>)\s*(?!&)\S")


def _without_captures(line: str) -> str:
    """The line without `$(...)` and backtick parts: their output is captured, not printed."""
    out, depth, i = [], 0, 0
    while i < len(line):
        if line.startswith("$(", i):
            depth, i = depth + 1, i + 2
            continue
        if depth and line[i] == "(":
            depth += 1
        elif depth and line[i] == ")":
            depth -= 1
        elif not depth:
            out.append(line[i])
        i += 1
    return re.sub(r"`[^`]*`", "", "".join(out))


def long_line_risks(script: str) -> list[str]:
    """The lines of a script that print something that can be one very long line."""
    risks = []
    for line in script.replace("\\\n", " ").splitlines():
        code = re.sub(r"(^|\s)#.*$", "", line).strip()
        printed = _without_captures(code)
        if not printed or SILENCED.search(printed):
            continue
        for pattern, why in PRODUCERS.items():
            if re.search(pattern, printed):
                risks.append(f"{why}: {line.strip()}")
    return risks


def scripts(command: str) -> list[str]:
    """A step's command and every `bash -c` script in it (a step's script travels as one)."""
    found = [command]
    try:
        words = shlex.split(command)
    except ValueError:
        return found
    for before, flag, text in zip(words, words[1:], words[2:], strict=False):
        if before == "bash" and flag == "-c":
            found.extend(scripts(text))
    return found


def logged(registration: Registration) -> bool:
    # pulumi-command logs both streams unless told otherwise.
    return unwrap(registration.inputs.get("logging")) != "none"


def violations(steps: list[Registration]) -> list[str]:
    found = []
    for step in steps:
        if step.type not in COMMANDS or not logged(step):
            continue
        for key in ("create", "update", "delete"):
            command: Any = unwrap(step.inputs.get(key))
            if isinstance(command, str):
                for script in scripts(command):
                    found += [f"{step.name} {key}: {risk}" for risk in long_line_risks(script)]
    return sorted(set(found))


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, home: Path) -> Deployment:
    return deploy(stack_config(ROOT / request.param))


def test_no_logged_step_prints_a_line_that_can_reach_64_kib(stack: Deployment) -> None:
    steps = [r for t in COMMANDS for r in stack.of_type(t)]
    assert [s for s in steps if logged(s)], "the stacks have logged steps to check"
    assert violations(steps) == []


def test_the_kubeconfig_step_would_fail_the_check_if_it_were_logged(stack: Deployment) -> None:
    (fetch,) = [r for r in stack.of_type(COMMANDS[0]) if r.name.endswith("-kubeconfig")]
    assert not logged(fetch)
    made_loud = replace(fetch, inputs={**fetch.inputs, "logging": "stdoutAndStderr"})
    assert any("a kubeconfig" in v for v in violations([made_loud]))


@pytest.mark.parametrize(
    "line",
    [
        "base64 -w0 /etc/rancher/rke2/server/token",
        "openssl base64 -A -in blob",
        "kubectl get nodes -o json",
        "jq -c . status.json >&2",
        "printf '%s' \"$list\" | tr '\\n' ','",
        "ls /var/lib | paste -sd, -",
        "sed 's/a/b/' /etc/rancher/rke2/rke2.yaml",
        "cat \\\n  /root/.kube/config",
        'cat "${KUBECONFIG}"',
        "kubectl config view --raw",
    ],
)
def test_what_prints_a_long_line_is_found(line: str) -> None:
    assert long_line_risks(f"set -eu\n{line}\n")


@pytest.mark.parametrize(
    "line",
    [
        "token=$(base64 -w0 /etc/rancher/rke2/server/token)",
        'current="$(openssl x509 -in s.crt -noout -ext subjectAltName | paste -sd,)"',
        "kubectl get nodes -o json >/tmp/nodes.json",
        "base64 -w0 blob 1>out",
        "cat ca.crt",
        "echo 'kubeconfig fetched' # sed /etc/rancher/rke2/rke2.yaml",
        "tr ',' '\\n' <list",
        "KUBECONFIG=/etc/rancher/rke2/rke2.yaml kubectl get nodes",
    ],
)
def test_what_is_captured_silenced_or_short_is_not(line: str) -> None:
    assert long_line_risks(f"{line}\n") == []
