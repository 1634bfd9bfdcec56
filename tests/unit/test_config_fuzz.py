"""Random YAML shapes never make `config check` or the program's config loading raise.

Each example edits the dev stack at a random place (or builds a stack from scratch) with a random
value: scalars of every YAML type, lists, mappings with real and random keys, numbers as keys.
`config check` must answer 0 or 1; `config.load()`, reading the same values through the engine's
config, must return a ClusterSpec or raise ConfigError. Examples are fixed (derandomized) and few
enough to keep the tier fast.
"""

from __future__ import annotations

import json
import os
import tempfile
from copy import deepcopy
from datetime import date
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pulumi
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import config
from config.__main__ import check
from config.model import ClusterSpec
from config.validate import PROJECT
from tests.unit.conftest import ROOT

FUZZ = settings(
    max_examples=100,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

_DEV = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
_KEYS = sorted(
    {
        *ClusterSpec.model_fields,
        "mode", "vip", "address", "internalAddress", "name", "roles", "ssh", "port", "user",
        "privateKey", "privateKeyFile", "hostKey", "apiAddress", "apiKeepalived", "interface",
        "virtualRouterId", "domain", "password", "secure", "values", "operator", "env", "Cluster",
        "source", "replica", "engine", "host", "s3", "skip", "chart", "namespace",
    }
)  # fmt: skip
_MODES = ["rke2", "existing", "keepalived", "external", "builtin", "managed"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from([*_MODES, "192.0.2.10/24", "192.0.2.0/24", "rbd-1", "eth0", "", "~/x"]),
    st.dates(min_value=date(1970, 1, 1)),
)
keys = st.one_of(st.sampled_from(_KEYS), st.text(max_size=12), st.integers(), st.booleans())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=5),
    ),
    max_leaves=20,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


_DEV_PATHS = [path for path in _paths(_DEV) if path]


_ABSENT = object()


def _child(value: Any, step: Any) -> Any:
    """value[step] when an earlier edit has left it there, else _ABSENT."""
    if isinstance(value, dict) and step in value:
        return value[step]
    if isinstance(value, list) and isinstance(step, int) and step < len(value):
        return value[step]
    return _ABSENT


@st.composite
def stack_documents(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 4)) == 0:
        # Something that is not shaped like a stack file at all.
        return draw(values)
    document = deepcopy(_DEV)
    for _ in range(draw(st.integers(1, 3))):
        *steps, last = draw(st.sampled_from(_DEV_PATHS))
        target: Any = document
        for step in steps:
            target = _child(target, step)
        if _child(target, last) is not _ABSENT:
            target[last] = draw(values)
    return document


def _raw_config(document: Any) -> dict[str, Any]:
    section = document.get("config") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        return {}
    prefix = f"{PROJECT}:"
    return {
        str(key).removeprefix(prefix): value
        for key, value in section.items()
        if str(key).startswith(prefix)
    }


@FUZZ
@given(document=stack_documents())
def test_config_check_answers_any_yaml(document: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stack_file = Path(folder) / "Pulumi.fuzz.yaml"
        stack_file.write_text(yaml.safe_dump(document, allow_unicode=True))
        assert check(stack_file) in (0, 1)


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_config_check_answers_any_text(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        stack_file = Path(folder) / "Pulumi.fuzz.yaml"
        if isinstance(text, bytes):
            stack_file.write_bytes(text)
        else:
            stack_file.write_text(text)
        assert check(stack_file) in (0, 1)


@FUZZ
@given(document=stack_documents())
def test_config_load_answers_any_config(document: Any) -> None:
    # Under the engine each `rainbond-ha:` key arrives as JSON text (numbers as keys are strings).
    raw = _raw_config(document)
    # load() also checks the environment's SSH agent, which is not what is fuzzed here.
    with patch.dict(os.environ):
        os.environ.pop("SSH_AUTH_SOCK", None)
        pulumi.runtime.set_all_config(
            {f"{PROJECT}:{key}": json.dumps(value, default=str) for key, value in raw.items()}
        )
        try:
            config.load()
        except config.ConfigError:
            pass
        finally:
            pulumi.runtime.set_all_config({})
