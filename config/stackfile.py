"""Reads a Pulumi stack file for `config check`, whatever the file holds.

Anything that is not a readable regular file of at most MAX_BYTES cannot be checked; anything that
is not a YAML mapping with the project's keys under `config:` is reported as one finding that
says where the keys belong. YAML that Pulumi would refuse (duplicate keys) is refused here too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

from .excerpt import excerpt, found
from .findings import Finding
from .model import ClusterSpec
from .validate import MAX_DEPTH

MAX_BYTES = 10 * 1024 * 1024
# Deeper than validation accepts (so a section too deep is named), shallow enough to stop at once.
_MAX_YAML_DEPTH = 4 * MAX_DEPTH
SIZE_LIMIT = "10 MiB"


class CannotCheck(Exception):
    """The file cannot be read as a stack file at all (exit code 2)."""


@dataclass
class StackFile:
    """The `<project>:` keys under `config:` (prefix removed), or why there are none."""

    raw: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def read_bytes(path: Path) -> bytes:
    """The file's bytes; CannotCheck when it is not a regular file or larger than MAX_BYTES."""
    try:
        # O_NONBLOCK: opening a FIFO nobody writes to must not hang; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise CannotCheck(f"cannot open it ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CannotCheck("is not a regular file")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(MAX_BYTES + 1)
        except OSError as error:
            raise CannotCheck(f"cannot read it ({error.strerror})") from None
    if len(data) > MAX_BYTES:
        raise CannotCheck(f"is larger than {SIZE_LIMIT}, the most a stack file may be")
    return data


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    return f"{line}:{index - (text.rfind(chr(10), 0, index) + 1) + 1}"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and keeps every key as the text the file holds."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # Stop early: PyYAML scans deep flow nesting in quadratic time, then fails on recursion.
        self._depth += 1
        try:
            if self._depth > _MAX_YAML_DEPTH:
                raise ComposerError(
                    None,
                    None,
                    f"nests more than {_MAX_YAML_DEPTH} levels deep; check the brackets and"
                    " indentation there",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: MappingNode) -> None:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=False)
            try:
                # By type too: YAML's 1 and true are two keys, although Python's 1 == True.
                first = seen.setdefault((type(key), key), key_node)
            except TypeError:
                continue  # an unhashable key is reported by construct_mapping
            if first is not key_node:
                raise ConstructorError(
                    None,
                    None,
                    f"the key {excerpt(key)} appears twice, first on line"
                    f" {first.start_mark.line + 1}; keep one of them",
                    key_node.start_mark,
                )
        super().flatten_mapping(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # The engine reads every key as a string; so does the check: `1:` is the key "1" and
        # `yes:` the key "yes" (a dict would merge 1 and true into one key).
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(
                    None,
                    None,
                    "a list or mapping is used as a key; keys are names",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=deep)
            text = key if isinstance(key, str) else str(key_node.value)
            mapping[text] = self.construct_object(value_node, deep=deep)
        return mapping


def parse(data: bytes, name: str) -> Any:
    """The YAML document; a Finding (as ValueError's argument) when it is not valid YAML."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        where = _position(data[: error.start].decode("utf-8", "replace"), error.start)
        raise ValueError(
            Finding(
                f"{name}:{where}",
                f"byte 0x{data[error.start]:02x} is not UTF-8",
                "save the file as UTF-8",
            )
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = " ".join(str(error.problem or error.context or "not YAML").split())
        wrong, _, right = problem.partition("; ")
        raise ValueError(Finding(where, wrong, right or "fix the YAML there")) from None
    except yaml.reader.ReaderError as error:
        where = _position(text, error.position)
        raise ValueError(
            Finding(
                f"{name}:{where}",
                f"the character {chr(error.character)!r} may not appear in YAML",
                "remove it",
            )
        ) from None
    except yaml.YAMLError as error:
        raise ValueError(Finding(name, f"is not YAML ({error})", "fix the YAML")) from None
    except RecursionError:
        raise ValueError(
            Finding(name, "nests too deeply to read", "check its indentation")
        ) from None


def stack_config(document: Any, name: str, project: str) -> StackFile:
    """The project's keys of a parsed stack file, or one finding saying where they belong."""
    prefix = f"{project}:"
    right = f"put the {prefix} keys under a top-level `config:` key, as in Pulumi.dev.yaml"
    if not isinstance(document, dict):
        what = "is empty" if document is None else f"{found(document)}, not a mapping"
        return StackFile(findings=[Finding(name, what, right)])
    sections = tuple(ClusterSpec.model_fields)
    stray = [key for key in map(str, document) if key.startswith(prefix) or key in sections]
    if stray:
        wrong = f"{', '.join(excerpt(k) for k in stray[:3])} {'is' if len(stray) == 1 else 'are'}"
        return StackFile(findings=[Finding(name, f"{wrong} not under `config:`", right)])
    config = document.get("config")
    if config is None:
        return StackFile(findings=[Finding(f"{name}: config", "is missing", right)])
    if not isinstance(config, dict):
        return StackFile(findings=[Finding("config", f"{found(config)}, not a mapping", right)])
    raw = {
        str(key).removeprefix(prefix): value
        for key, value in config.items()
        if str(key).startswith(prefix)
    }
    bare = [key for key in map(str, config) if key in sections]
    findings = [
        Finding(f"config.{key}", "has no project prefix", f"write it as {prefix}{key}")
        for key in bare
    ]
    # Checked as if prefixed, so the section is not also reported missing and its own
    # problems show now rather than after the prefix is added.
    for key in bare:
        raw.setdefault(key, config[key])
    if not raw and not findings:
        findings.append(
            Finding(
                "config", f"holds no {prefix} keys", f"set {prefix}nodes and the other sections"
            )
        )
    return StackFile(raw, findings)


def read_stack(path: Path, project: str) -> StackFile:
    """The project's keys of the stack file at `path`; CannotCheck when it cannot be read."""
    try:
        document = parse(read_bytes(path), str(path))
    except ValueError as error:
        return StackFile(findings=[error.args[0]])
    return stack_config(document, str(path), project)
