"""Turns raw configuration, from the engine or from a stack file, into a ClusterSpec.

Each section is parsed on its own so that one broken section does not hide the problems of the
others; then the rules run over every section that parsed. All findings are returned at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo

from .explain import excerpt_key, explain
from .findings import Files, Finding, Level
from .model import ClusterSpec
from .rules import run_rules

PROJECT = "rainbond-ha"
# Far deeper than any stack needs, far shallower than what makes recursion fail.
MAX_DEPTH = 64
# Far more values than any stack has, few enough to look at in a moment.
MAX_VALUES = 100_000


def _section_model(name: str, field: FieldInfo) -> type[BaseModel]:
    definition: dict[str, Any] = {name: (field.annotation, field)}
    return create_model(f"{name.title()}Section", **definition)


# One single-field model per section, so each section validates (and fails) on its own.
_SECTIONS = {name: _section_model(name, field) for name, field in ClusterSpec.model_fields.items()}


@dataclass(frozen=True)
class Report:
    spec: ClusterSpec | None
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.WARNING]


class TooDeep:
    """Stands for a value that nested too deeply to be parsed at all."""


def oversized(value: Any) -> str | None:
    """Why a value is too large to validate (nested too deep, or YAML aliases expanding it into
    too many values), or None. Checked without recursion and within MAX_VALUES steps."""
    if isinstance(value, TooDeep):
        return f"nests more than {MAX_DEPTH} levels deep"
    stack = [(value, 0)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return f"holds more than {MAX_VALUES} values (YAML aliases repeat theirs)"
        if depth > MAX_DEPTH:
            return f"nests more than {MAX_DEPTH} levels deep"
        if isinstance(item, dict | list):
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def _section(name: str, value: Any, context: dict[str, Any]) -> tuple[Any, list[Finding]]:
    problem = oversized(value)
    if problem:
        return None, [
            Finding(name, problem, "write the section out as docs/configuration.md shows")
        ]
    try:
        parsed = _SECTIONS[name].model_validate({name: value}, context=context)
    except ValidationError as error:
        return None, explain(error.errors(include_url=False))
    return getattr(parsed, name), []


def validate(
    raw: Mapping[Any, Any], *, root: Path, files: Files, stack_file: bool = False
) -> Report:
    """Validates the `rainbond-ha:` config keys (prefix removed) of one stack.

    `stack_file` marks values read from a stack file, where secrets must be encrypted.
    """
    context = {"root": str(root), "stack_file": stack_file}
    findings = [
        Finding(
            excerpt_key(key),
            "is not a known key",
            f"use one of {', '.join(ClusterSpec.model_fields)}",
        )
        for key in sorted(raw.keys() - ClusterSpec.model_fields.keys(), key=str)
    ]
    sections: dict[str, Any] = {}
    for name, field in ClusterSpec.model_fields.items():
        if name in raw:
            section, problems = _section(name, raw[name], context)
            findings.extend(problems)
            if not problems:
                sections[name] = section
        elif field.is_required():
            findings.append(
                Finding(name, "is missing", f"set {PROJECT}:{name}; see docs/configuration.md")
            )
        else:
            sections[name] = field.get_default(call_default_factory=True)
    findings.extend(run_rules(sections, files))
    valid = not any(f.level is Level.ERROR for f in findings)
    return Report(ClusterSpec.model_validate(sections) if valid else None, findings)
