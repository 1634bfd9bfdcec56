"""`python -m config check Pulumi.<stack>.yaml` and `python -m config schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from .model import ClusterSpec
from .rules import Files
from .validate import PROJECT, validate

_PREFIX = f"{PROJECT}:"


def check(stack_file: Path) -> int:
    """Prints one line per problem (stdout) and per warning (stderr); 0 when valid, else 1."""
    try:
        document = yaml.safe_load(stack_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        print(f"{stack_file}: cannot read it ({error}); pass a Pulumi stack file")
        return 1
    stack_config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(stack_config, dict | None):
        print(f"{stack_file}: `config` is not a mapping; write `config:` and key: value lines")
        return 1
    raw = {
        key.removeprefix(_PREFIX): value
        for key, value in (stack_config or {}).items()
        if key.startswith(_PREFIX)
    }
    # A stack file sits next to Pulumi.yaml, so its folder is the project root.
    report = validate(raw, root=stack_file.resolve().parent, files=Files.WARN, stack_file=True)
    for finding in report.warnings:
        print(finding, file=sys.stderr)
    for finding in report.problems:
        print(finding)
    if report.spec is None:
        return 1
    print(f"{stack_file}: valid", file=sys.stderr)
    return 0


def schema() -> dict[str, Any]:
    """A JSON Schema for Pulumi.<stack>.yaml files of this project."""
    spec = ClusterSpec.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Pulumi stack file of {PROJECT}",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": {_PREFIX + key: value for key, value in spec["properties"].items()},
                "required": [_PREFIX + key for key in spec["required"]],
            },
            "encryptionsalt": {"type": "string"},
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
        },
        "$defs": spec["$defs"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="validate a stack file without the engine")
    check_parser.add_argument("stack_file", type=Path)
    commands.add_parser("schema", help="print a JSON Schema for stack files")
    args = parser.parse_args(argv)
    if args.command == "schema":
        print(json.dumps(schema(), indent=2))
        return 0
    return check(args.stack_file)


if __name__ == "__main__":
    sys.exit(main())
