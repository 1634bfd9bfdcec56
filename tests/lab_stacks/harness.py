"""Pulumi stacks on the lab: the lab stack's configuration with overrides, in a scratch project.

Each test stack lives in its own scratch folder and state backend, so tests never touch the
repository's stack files or one another's state.
"""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from lab.labctl import COMMAND
from tests.e2e.engine import PROJECT_ROOT, write_project_file
from tests.e2e.engine import stack as engine_stack

MAIN = """\
import sys

sys.path.insert(0, {root!r})

from tests.lab_stacks.program import main

main()
"""


# The lab's own Kubernetes API on the host, with a fake node per lab node: quick to deploy onto
# and leaving the nodes alone. The tests of the kubeadm cluster Pulumi.lab.yaml installs say so.
LAB_API = {"mode": "existing", "kubeconfigPath": "lab/.work/kubeconfig"}


def lab_kubernetes() -> dict[str, Any]:
    """Pulumi.lab.yaml's kubernetes section: kubeadm on the lab nodes."""
    section: dict[str, Any] = lab_stack_file()["config"]["rainbond-ha:kubernetes"]
    return section


def lab_stack_file() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "Pulumi.lab.yaml").read_text())
    return document


def lab_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Pulumi.lab.yaml's config on the lab's API (LAB_API), with `rainbond-ha:<section>` keys
    replaced by overrides."""
    config: dict[str, Any] = copy.deepcopy(lab_stack_file()["config"])
    config["rainbond-ha:kubernetes"] = LAB_API
    config["rainbond-ha:rainbond"] = {
        k: v for k, v in config["rainbond-ha:rainbond"].items() if k != "wait"
    }
    for key, value in (overrides or {}).items():
        config[f"rainbond-ha:{key}"] = value
    return config


def component_stack(
    name: str,
    where: Path,
    components: Collection[str],
    overrides: dict[str, Any] | None = None,
) -> auto.Stack:
    """A stack of Preflight plus `components` (or "platform" for everything) on the lab nodes."""
    if "platform" in components and os.environ.get("LAB_KUBERNETES") == "later":
        # make test runs unmarked modules before the lab's Kubernetes is built.
        raise RuntimeError("a platform stack needs the lab's Kubernetes: mark the test kubernetes")
    project = where / "project"
    project.mkdir(parents=True)
    write_project_file(project, "rainbond-ha")
    (project / "__main__.py").write_text(MAIN.format(root=str(PROJECT_ROOT)))
    config = lab_config(overrides)
    if "platform" not in components:
        # Only the release talks to Kubernetes; without it the cluster is never contacted, so an
        # unreachable loopback address stands in for the lab API server.
        config["rainbond-ha:kubernetes"] = {
            "mode": "existing",
            "kubeconfigPath": str(_unused_kubeconfig(where)),
        }
    config["harness:components"] = list(components)
    # The lab stack's relative paths (key file, kubeconfig, chart) are from the project root.
    config = _absolute_paths(config)
    (project / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return engine_stack(name, project, where / "state")


def _unused_kubeconfig(where: Path) -> Path:
    path = where / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {"token": "unused"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    return path


def _absolute_paths(config: dict[str, Any]) -> dict[str, Any]:
    def fix(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: fix(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if (
            isinstance(value, str)
            and key in PATH_KEYS
            and "://" not in value
            and not os.path.isabs(value)
        ):
            return str((PROJECT_ROOT / value).resolve())
        return value

    return {k: fix(v) for k, v in config.items()}


PATH_KEYS = {"privateKeyFile", "kubeconfigPath", "chart", "knownHostsFile", "artifactsDir"}


def set_section(stack: auto.Stack, section: str, value: Any) -> None:
    """Replaces `rainbond-ha:<section>` in the stack's file, as an operator edits it."""
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir
    path = Path(workspace.work_dir) / f"Pulumi.{stack.name}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"][f"rainbond-ha:{section}"] = _absolute_paths({section: value})[section]
    path.write_text(yaml.safe_dump(document))


def lab_nodes(count: int) -> None:
    """Grows or shrinks the lab to `count` nodes (`lab/lab up --nodes`); the others are kept."""
    subprocess.run([str(COMMAND), "up", "--nodes", str(count)], check=True, timeout=900)
