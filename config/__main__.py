"""`python -m config check Pulumi.<stack>.yaml` and `python -m config schema`.

`check` exits 0 when the stack is valid, 1 when it is not, and 2 when the file cannot be checked
(missing, unreadable, not a regular file, larger than 10 MiB).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .findings import Files, Finding, capped
from .model import ClusterSpec
from .stackfile import CannotCheck, read_stack
from .validate import PROJECT, validate

VALID, INVALID, CANNOT_CHECK = 0, 1, 2

_PREFIX = f"{PROJECT}:"


def _print(findings: Sequence[Finding], what: str, stream: TextIO) -> None:
    for line in capped([str(finding) for finding in findings], what):
        print(line, file=stream)


def check(stack_file: Path) -> int:
    """Prints one line per problem (stdout) and per warning (stderr); returns the exit code."""
    try:
        stack = read_stack(stack_file, PROJECT)
    except CannotCheck as error:
        print(f"{stack_file}: {error}; pass a Pulumi stack file", file=sys.stderr)
        return CANNOT_CHECK
    if stack.findings and not stack.raw:
        _print(stack.findings, "problems", sys.stdout)
        return INVALID
    # A stack file sits next to Pulumi.yaml, so its folder is the project root.
    report = validate(
        stack.raw, root=stack_file.resolve().parent, files=Files.WARN, stack_file=True
    )
    _print(report.warnings, "warnings", sys.stderr)
    _print([*stack.findings, *report.problems], "problems", sys.stdout)
    if report.spec is None or stack.findings:
        return INVALID
    print(f"{stack_file}: valid", file=sys.stderr)
    return VALID


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
        return VALID
    try:
        return check(args.stack_file)
    except Exception as error:  # a bug in the checker must not look like an invalid stack
        print(
            f"{args.stack_file}: cannot check it: {type(error).__name__} in the checker;"
            " please report it with the file",
            file=sys.stderr,
        )
        return CANNOT_CHECK


if __name__ == "__main__":
    sys.exit(main())
