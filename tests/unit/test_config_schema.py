"""`python -m config schema` accepts every stack the project ships and every good stack in the
tests, checked by a real JSON Schema validator, and refuses what `config check` refuses by shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from config.__main__ import schema
from config.rules import Files
from config.validate import PROJECT, validate
from tests.unit.conftest import ROOT, edited
from tests.unit.rule_cases import CASES

SHIPPED = [
    ROOT / "Pulumi.dev.yaml",
    ROOT / "Pulumi.lab.yaml",
    *sorted((ROOT / "docs" / "examples").glob("*.yaml")),
]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    document = schema()
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def schema_errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_every_example_is_shipped() -> None:
    assert len(SHIPPED) >= 3 and all(path.is_file() for path in SHIPPED)


@pytest.mark.parametrize("stack_file", SHIPPED, ids=lambda p: p.name)
def test_shipped_stack_files_match_the_schema(
    validator: jsonschema.Draft202012Validator, stack_file: Path
) -> None:
    assert schema_errors(validator, yaml.safe_load(stack_file.read_text())) == []


def _stack_document(config: dict[str, Any]) -> dict[str, Any]:
    return {"config": {f"{PROJECT}:{key}": value for key, value in config.items()}}


def test_good_stacks_of_the_rule_tests_match_the_schema(
    validator: jsonschema.Draft202012Validator, dev_config: dict[str, Any]
) -> None:
    checked = 0
    for name, good, _, _ in CASES:
        config = edited(dev_config, *good)
        # Only what a stack file may hold: the rule tests also pass plain-text secrets, which
        # only the engine (decrypted) hands over.
        if validate(config, root=ROOT, files=Files.WARN, stack_file=True).spec is None:
            continue
        assert schema_errors(validator, _stack_document(config)) == [], name
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ("gateway", {"mode": "haproxy"}),
        ("gateway", {"mode": "external"}),
        ("gateway", {"mode": "external", "address": "192.0.2.9", "vip": "192.0.2.10"}),
        ("ssh", {"port": True}),
        ("registry", {"mode": "external", "domain": "r.example", "username": "u", "password": "p"}),
    ],
    ids=["unknown-mode", "missing-key", "key-of-another-mode", "port-boolean", "plain-secret"],
)
def test_the_schema_refuses_wrong_shapes(
    validator: jsonschema.Draft202012Validator,
    dev_config: dict[str, Any],
    section: str,
    value: Any,
) -> None:
    document = _stack_document({**dev_config, section: value})
    assert schema_errors(validator, document) != []
