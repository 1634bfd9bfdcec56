"""Reads the stack configuration through the Pulumi engine (the only place that does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi

from . import ssh_agent
from .findings import Files, capped
from .model import ClusterSpec
from .validate import PROJECT, Report, TooDeep, validate

# The project root is the folder of Pulumi.yaml, which holds this package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(pulumi.RunError):
    """The stack configuration is invalid; raised before any resource is registered."""

    def __init__(self, report: Report) -> None:
        problems = "\n".join(capped([str(finding) for finding in report.problems], "problems"))
        super().__init__(f"invalid stack configuration:\n{problems}")
        self.report = report


def _value(text: str) -> Any:
    # Structured values arrive as JSON; a scalar is passed on so the model can say what is wrong.
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
    except RecursionError:
        return TooDeep()


def load() -> ClusterSpec:
    """Validates this stack's `rainbond-ha:` configuration and returns it as a ClusterSpec."""
    ssh_agent.check()
    config = pulumi.Config(PROJECT)
    raw = {
        name: _value(text)
        for name in ClusterSpec.model_fields
        if (text := config.get(name)) is not None
    }
    report = validate(raw, root=PROJECT_ROOT, files=Files.REQUIRED)
    for finding in report.warnings:
        pulumi.log.warn(finding.message)  # the engine adds "warning:" itself
    if report.spec is None:
        raise ConfigError(report)
    return report.spec
