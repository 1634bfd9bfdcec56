"""Turns raw configuration, from the engine or from a stack file, into a ClusterSpec.

Each section is parsed on its own so that one broken section does not hide the problems of the
others; then the rules run over every section that parsed. All findings are returned at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from .model import ClusterSpec
from .rules import Files, Finding, Level, run_rules

PROJECT = "rainbond-ha"


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


def validate(
    raw: Mapping[str, Any], *, root: Path, files: Files, stack_file: bool = False
) -> Report:
    """Validates the `rainbond-ha:` config keys (prefix removed) of one stack.

    `stack_file` marks values read from a stack file, where secrets must be encrypted.
    """
    context = {"root": str(root), "stack_file": stack_file}
    findings = [
        Finding(key, "is not a known key", f"use one of {', '.join(ClusterSpec.model_fields)}")
        for key in sorted(raw.keys() - ClusterSpec.model_fields.keys())
    ]
    sections: dict[str, Any] = {}
    for name, field in ClusterSpec.model_fields.items():
        if name in raw:
            try:
                parsed = _SECTIONS[name].model_validate({name: raw[name]}, context=context)
                sections[name] = getattr(parsed, name)
            except ValidationError as error:
                findings.extend(_explain(detail) for detail in error.errors())
        elif field.is_required():
            findings.append(
                Finding(name, "is missing", f"set {PROJECT}:{name}; see docs/configuration.md")
            )
        else:
            sections[name] = field.get_default(call_default_factory=True)
    findings.extend(run_rules(sections, files))
    valid = not any(f.level is Level.ERROR for f in findings)
    return Report(ClusterSpec.model_validate(sections) if valid else None, findings)


def _mode_tags() -> dict[str, frozenset[str]]:
    """Each section that is a union on `mode`, with its modes (pydantic puts them in paths)."""
    tags = {}
    for name, field in ClusterSpec.model_fields.items():
        if field.discriminator == "mode":
            variants = get_args(field.annotation)
            tags[name] = frozenset(
                tag
                for variant in variants
                for tag in get_args(variant.model_fields["mode"].annotation)
            )
    return tags


_MODE_TAGS = _mode_tags()


def _without_mode(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], str | None]:
    """`("gateway", "keepalived", "vip")` -> `("gateway", "vip")` and the mode `keepalived`."""
    if len(loc) > 1 and loc[1] in _MODE_TAGS.get(str(loc[0]), ()):
        return (loc[0], *loc[2:]), str(loc[1])
    return loc, None


def config_path(loc: tuple[int | str, ...]) -> str:
    """`("nodes", 2, "roles")` -> `nodes[2].roles`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path


_HINTS = {
    "ip_v4_address": "use an IPv4 address such as 192.0.2.10",
    "ip_v4_interface": "use an IPv4 address with an optional prefix, such as 192.0.2.10/24",
    "missing": "set it",
    "extra_forbidden": "remove it or fix its spelling; see docs/configuration.md",
}


def _explain(detail: ErrorDetails) -> Finding:
    loc, mode = _without_mode(detail["loc"])
    path = config_path(loc)
    kind = detail["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = detail.get("ctx", {}).get("expected_tags") or " or ".join(
            repr(tag) for tag in sorted(_MODE_TAGS.get(path, ()))
        )
        found = detail.get("ctx", {}).get("tag")
        wrong = "is missing" if found is None else f"{found!r} is not allowed"
        return Finding(f"{path}.mode", wrong, f"use {expected}")
    if mode is not None and kind == "missing":
        return Finding(path, f"is missing for mode {mode}", "set it")
    if mode is not None and kind == "extra_forbidden":
        return Finding(path, f"is not used in mode {mode}", "remove it or change the mode")
    if kind == "value_error":
        wrong, _, right = detail["msg"].removeprefix("Value error, ").partition("; ")
        return Finding(path, wrong, right or "see docs/configuration.md")
    if kind in ("literal_error", "enum"):
        expected = detail.get("ctx", {}).get("expected", "")
        return Finding(path, f"{detail['input']!r} is not allowed", f"use {expected}")
    if kind in ("missing", "extra_forbidden"):
        wrong = "is missing" if kind == "missing" else "is not a known key"
        return Finding(path, wrong, _HINTS[kind])
    # Other messages would echo the input, which may be a secret: name the rule only.
    right = _HINTS.get(kind, "see docs/configuration.md")
    return Finding(path, f"invalid value ({detail['msg']})", right)
