"""Turns pydantic's validation errors into findings: `<path>: <what is wrong>; <what is right>`.

A message shows a short excerpt of the value found (never a secret's), what the key accepts and
how to fix it, in the words of the stack file rather than those of the library.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic_core import ErrorDetails

from .excerpt import excerpt, found, kind
from .findings import Finding
from .model import ClusterSpec

DOCS = "see docs/configuration.md"
# A key that pydantic reports missing only because the key it defaults from is broken.
_DEFAULTS_FROM = {"internalAddress": "address"}


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    elif get_origin(annotation) in (list, tuple, Union, types.UnionType):
        for arg in get_args(annotation):
            yield from _models(arg)


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


def _secret_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    keys: set[str] = set()
    seen.add(model)
    for name, field in model.model_fields.items():
        if _is_secret(field.annotation):
            keys.add(field.alias or name)
        for inner in _models(field.annotation):
            if inner not in seen:
                keys |= _secret_keys(inner, seen)
    return keys


def _mode_tags() -> dict[str, frozenset[str]]:
    """Each section that is a union on `mode`, with its modes (pydantic puts them in paths)."""
    tags = {}
    for name, field in ClusterSpec.model_fields.items():
        if field.discriminator == "mode":
            tags[name] = frozenset(
                tag
                for variant in get_args(field.annotation)
                for tag in get_args(variant.model_fields["mode"].annotation)
            )
    return tags


SECRET_KEYS = frozenset(_secret_keys(ClusterSpec, set()))
MODE_TAGS = _mode_tags()


def _without_mode(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], str | None]:
    """`("gateway", "keepalived", "vip")` -> `("gateway", "vip")` and the mode `keepalived`."""
    if len(loc) > 1 and loc[1] in MODE_TAGS.get(str(loc[0]), ()):
        return (loc[0], *loc[2:]), str(loc[1])
    return loc, None


def config_path(loc: tuple[int | str, ...]) -> str:
    """`("nodes", 2, "roles")` -> `nodes[2].roles`."""
    path = ""
    for index, part in enumerate(loc):
        if part == "[key]":  # pydantic's marker after a mapping key that failed
            continue
        # A number is a list index, unless it is a mapping key that failed.
        is_key = loc[index + 1 : index + 2] == ("[key]",)
        index_like = isinstance(part, int) and not is_key
        path += f"[{part}]" if index_like else f".{part}" if path else str(part)
    return path


def _shown(value: Any, secret: bool) -> str:
    """What was found: the value and its kind, or for a secret its kind only."""
    return f"is {kind(value)}" if secret else found(value)


def _explain(detail: ErrorDetails) -> Finding:
    loc, mode = _without_mode(detail["loc"])
    path = config_path(loc)
    kind_ = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    value = detail.get("input")
    secret = bool(loc) and str(loc[-1]) in SECRET_KEYS
    if kind_ in ("union_tag_invalid", "union_tag_not_found"):
        modes = " or ".join(sorted(MODE_TAGS.get(path, ())))
        mode_value = value.get("mode") if isinstance(value, dict) else None
        wrong = "is missing" if mode_value is None else f"{_shown(mode_value, False)}, not a mode"
        return Finding(f"{path}.mode", wrong, f"use {modes}")
    if detail["loc"][-1:] == ("[key]",):
        return Finding(path, f"is a key that is {kind(value)}", "write every key as text")
    if kind_ == "missing":
        wrong = f"is missing for mode {mode}" if mode else "is missing"
        return Finding(path, wrong, "set it")
    if kind_ == "extra_forbidden":
        if mode:
            return Finding(path, f"is not used in mode {mode}", "remove it or change the mode")
        return Finding(path, "is not a known key", f"remove it or fix its spelling; {DOCS}")
    if kind_ == "value_error":
        wrong, _, right = str(detail["msg"]).removeprefix("Value error, ").partition("; ")
        return Finding(path, wrong, right or DOCS)
    if kind_ in ("literal_error", "enum"):
        # A list or mapping is not shown: it may hold a `{secure: ...}` value.
        wrong = (
            f"is {kind(value)}, not one of the choices"
            if isinstance(value, dict | list)
            else f"{excerpt(value)} is not allowed"
        )
        return Finding(path, wrong, f"use {ctx.get('expected', '')}")
    return Finding(path, *_shape(kind_, value, secret, ctx))


def _shape(kind_: str, value: Any, secret: bool, ctx: dict[str, Any]) -> tuple[str, str]:
    """Wrong and right for an error about the type or size of a value."""
    shown = _shown(value, secret)
    if kind_ in ("model_type", "model_attributes_type", "dict_type"):
        return f"{shown}, not a mapping", "write its keys as `key: value` lines indented under it"
    if kind_ in ("list_type", "tuple_type", "set_type"):
        return f"{shown}, not a list", "write a list: `[a, b]` or one `- item` line per entry"
    if kind_ == "string_type":
        return f"{shown}, not a string", "write text; quote it if YAML reads it as another type"
    if kind_ in ("bool_type", "bool_parsing"):
        return f"{shown}, not true or false", "write true or false"
    if kind_ == "string_too_short":
        return "is empty", "write a value, or leave the key out where it is optional"
    if kind_ == "too_short":
        least = ctx.get("min_length", 1)
        return "is empty", f"list at least {least} entr{'y' if least == 1 else 'ies'}"
    if kind_ == "invalid_key":
        return f"has the key {excerpt(value)}, which is {kind(value)}", "write every key as text"
    if kind_ in ("string_too_long", "too_long"):
        return f"is longer than {ctx.get('max_length')}", "shorten it"
    return f"{shown}, which this key does not accept", DOCS


def explain(details: Iterable[ErrorDetails]) -> list[Finding]:
    """One finding per error, without those that only follow from another one."""
    details = list(details)
    failed = {tuple(_without_mode(d["loc"])[0]) for d in details}
    kept = []
    for detail in details:
        loc = _without_mode(detail["loc"])[0]
        source = _DEFAULTS_FROM.get(str(loc[-1])) if loc else None
        if detail["type"] == "missing" and source and (*loc[:-1], source) in failed:
            continue
        kept.append(_explain(detail))
    return kept


def excerpt_key(key: Any) -> str:
    """A config key as a message shows it."""
    return key if isinstance(key, str) and len(key) <= 60 else excerpt(key)
