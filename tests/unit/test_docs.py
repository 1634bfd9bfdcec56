"""docs/configuration.md documents exactly the keys the model accepts, and the exit codes and
limits of `config check`."""

from __future__ import annotations

import re
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from config.__main__ import CANNOT_CHECK, INVALID, VALID
from config.findings import MAX_LINES
from config.model import ClusterSpec
from config.stackfile import MAX_BYTES, SIZE_LIMIT
from config.validate import MAX_DEPTH, MAX_VALUES
from tests.unit.conftest import ROOT

_ROW_KEY = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def _models_in(annotation: Any) -> tuple[list[type[BaseModel]], bool]:
    """The models inside `annotation` (one, Optional, a union of modes or a list of them), and
    whether it is a list."""
    origin = get_origin(annotation)
    if origin is list:
        inner, _ = _models_in(get_args(annotation)[0])
        return inner, True
    if origin in (Union, types.UnionType):
        models: list[type[BaseModel]] = []
        is_list = False
        for arg in get_args(annotation):
            inner, arg_is_list = _models_in(arg)
            models += inner
            is_list = is_list or arg_is_list
        return models, is_list
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    return [], False


def leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key of `model`, each mode's keys included."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        inner, is_list = _models_in(field.annotation)
        if not inner:
            keys.add(path)
        for each in inner:
            keys |= leaf_keys(each, path + ("[]." if is_list else "."))
    return keys


def test_every_key_documented_and_no_other() -> None:
    rows = _ROW_KEY.findall((ROOT / "docs" / "configuration.md").read_text())
    # Table rows that start with a section name document a key; others name Helm values.
    documented = {row for row in rows if re.split(r"[.\[]", row)[0] in ClusterSpec.model_fields}
    model = leaf_keys(ClusterSpec)
    assert "nodes[].ssh.hostKey" in model and "kubernetes.apiKeepalived.interface" in model
    assert "registry.s3.bucket" in model and "database.clientNetworks" in model
    assert sorted(model - documented) == [], "keys missing from docs/configuration.md"
    assert sorted(documented - model) == [], "documented keys the model lacks"


def test_exit_codes_and_limits_are_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert f"{MAX_BYTES // (1024 * 1024)} MiB" == SIZE_LIMIT
    assert f"larger than **{SIZE_LIMIT}**" in text
    for code in (VALID, INVALID, CANNOT_CHECK):
        assert f"| `{code}` |" in text
    assert f"after {MAX_LINES} lines" in text
    assert f"more than {MAX_DEPTH} levels" in text and f"more than {MAX_VALUES:,} values" in text
