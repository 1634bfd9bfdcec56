"""Edits of a stack's config for tests (`put`, `drop`, `append` at a path like
`nodes[0].roles`) and the findings the validation reports."""

from __future__ import annotations

import re
from typing import Any

from config.rules import Files
from config.validate import validate
from tests.unit.conftest import ROOT

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _walk(config: dict[str, Any], path: str) -> tuple[Any, str | int]:
    keys: list[str | int] = [name or int(index) for name, index in _STEP.findall(path)]
    target: Any = config
    for key in keys[:-1]:
        target = target[key]
    return target, keys[-1]


def put(path: str, value: Any) -> Any:
    def edit(config: dict[str, Any]) -> None:
        target, key = _walk(config, path)
        target[key] = value

    return edit


def drop(path: str) -> Any:
    def edit(config: dict[str, Any]) -> None:
        target, key = _walk(config, path)
        del target[key]

    return edit


def append(path: str, value: Any) -> Any:
    def edit(config: dict[str, Any]) -> None:
        target, key = _walk(config, path)
        target[key].append(value)

    return edit


def added_node(name: str, host: int, *roles: str) -> dict[str, Any]:
    """A node for `nodes`, beside the dev stack's three (192.0.2.11-13): at 192.0.2.<host>."""
    return {"name": name, "address": f"192.0.2.{host}", "roles": list(roles)}


def findings(config: dict[str, Any], files: Files = Files.REQUIRED) -> list[str]:
    return [str(f) for f in validate(config, root=ROOT, files=files).findings]
