"""`config check` holds against any input: no traceback, exit 0 valid, 1 invalid, 2 cannot check.

These run the command in-process (`config.__main__.main`), as `python -m config check` does.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.__main__ import main
from config.findings import MAX_LINES
from config.stackfile import MAX_BYTES
from tests.unit.conftest import ROOT


def check(path: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    """Exit code, the problem lines (stdout) and what went to stderr."""
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def stack_text(tmp_path: Path, text: str | bytes, name: str = "Pulumi.x.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def dev_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    return document


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp / "absent.yaml", "cannot open it (No such file or directory)"),
        (lambda tmp: tmp, "is not a regular file"),
        (lambda tmp: Path("/dev/zero"), "is not a regular file"),
        (lambda tmp: Path("/dev/null"), "is not a regular file"),
    ],
    ids=["missing", "directory", "dev-zero", "dev-null"],
)
def test_what_is_not_a_file_cannot_be_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, says: str
) -> None:
    code, out, err = check(make(tmp_path), capsys)
    assert (code, out) == (2, [])
    assert says in err and "Traceback" not in err


def test_a_fifo_nobody_writes_to_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "Pulumi.fifo.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, _, err = check(fifo, capsys)
    assert code == 2 and "is not a regular file" in err
    assert time.monotonic() - started < 5


def test_a_file_over_the_limit_cannot_be_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "Pulumi.big.yaml"
    with big.open("wb") as file:
        file.truncate(MAX_BYTES + 1)  # sparse: no disk is spent on it
    code, out, err = check(big, capsys)
    assert (code, out) == (2, [])
    assert "is larger than 10 MiB" in err


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            b"config:\n  rainbond-ha:nodes: \xff\n",
            "{file}:2:22: byte 0xff is not UTF-8; save the file as UTF-8",
        ),
        ("config:\n  rainbond-ha:nodes: [\n", "{file}:3:1: expected the node content"),
        (
            "config:\n\trainbond-ha:nodes: []\n",
            "{file}:2:1: found character '\\t' that cannot start",
        ),
        ("config:\n  a: 1\n  a: 2\n", "{file}:3:3: the key 'a' appears twice, first on line 2;"),
        (
            "config:\n  x: \x07\n",
            "{file}:2:6: the character '\\x07' may not appear in YAML; remove it",
        ),
        ("[" * 300 + "]" * 300, "{file}:1:257: nests more than 256 levels deep;"),
    ],
    ids=["not-utf8", "unclosed", "tab", "duplicate-key", "control-character", "deep"],
)
def test_unreadable_yaml_is_one_line_with_its_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, line: str
) -> None:
    path = stack_text(tmp_path, text)
    code, out, _ = check(path, capsys)
    assert code == 1
    assert len(out) == 1 and out[0].startswith(line.format(file=path)), out


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty; put the rainbond-ha: keys under a top-level `config:` key"),
        ("- a\n- b\n", "is a list, not a mapping; put the rainbond-ha: keys under"),
        ("just text\n", "'just text' is a string, not a mapping; put the rainbond-ha: keys"),
        ("rainbond-ha:nodes: []\nrainbond-ha:gateway: {}\n", "are not under `config:`"),
        ("nodes: []\n", "'nodes' is not under `config:`"),
        ("encryptionsalt: x\n", "config: is missing"),
        ("config: [a]\n", "config: is a list, not a mapping"),
        ("config:\n  aws:region: x\n", "config: holds no rainbond-ha: keys"),
    ],
    ids=[
        "empty",
        "list",
        "text",
        "top-level-keys",
        "bare-section",
        "no-config",
        "config-list",
        "none",
    ],
)
def test_keys_in_the_wrong_place_get_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    code, out, _ = check(stack_text(tmp_path, text), capsys)
    assert code == 1
    assert len(out) == 1 and says in out[0], out


def test_a_section_name_without_the_prefix_says_how_to_write_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    document = dev_document()
    document["config"]["nodes"] = document["config"].pop("rainbond-ha:nodes")
    document["config"]["nodes"][0]["name"] = "RBD-1"
    code, out, _ = check(stack_text(tmp_path, yaml.safe_dump(document)), capsys)
    assert code == 1
    assert [line.split(";")[0] for line in out] == [
        "config.nodes: has no project prefix",
        "nodes[0].name: 'RBD-1' is not a DNS-1123 name of at most 63 characters",
    ]


def test_keys_yaml_reads_as_numbers_or_booleans_are_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    text = text.replace(
        "    virtualRouterId: 51\n", "    virtualRouterId: 51\n    1: x\n    yes: y\n"
    )
    text = text.replace("config:\n", "config:\n  7: seven\n  null: nothing\n", 1)
    code, out, _ = check(stack_text(tmp_path, text), capsys)
    assert code == 1
    assert out == [
        "gateway.1: is not used in mode keepalived; remove it or change the mode",
        "gateway.yes: is not used in mode keepalived; remove it or change the mode",
    ]


def test_output_is_capped_with_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    document = dev_document()
    document["config"]["rainbond-ha:preflight"]["skip"] = [f"check-{i}" for i in range(80)]
    code, out, _ = check(stack_text(tmp_path, yaml.safe_dump(document)), capsys)
    assert code == 1
    assert len(out) == MAX_LINES + 1
    assert out[-1] == f"... and {80 - MAX_LINES} more problems not shown"


def test_long_values_are_shown_as_an_excerpt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    document = dev_document()
    document["config"]["rainbond-ha:database"]["engine"] = "x" * 100_000
    code, out, _ = check(stack_text(tmp_path, yaml.safe_dump(document)), capsys)
    assert code == 1
    assert len(out) == 1 and len(out[0]) < 200, out


@pytest.mark.parametrize("value", [12345, ["k-secret"], {"key": "v-secret"}, "", True])
def test_a_secret_of_the_wrong_type_is_not_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], home: Path, value: Any
) -> None:
    document = dev_document()
    document["config"]["rainbond-ha:ssh"]["privateKey"] = value
    del document["config"]["rainbond-ha:ssh"]["privateKeyFile"]
    code, out, err = check(stack_text(tmp_path, yaml.safe_dump(document)), capsys)
    assert code == 1
    assert len(out) == 1 and out[0].startswith("ssh.privateKey: "), out
    for shown in ("12345", "k-secret", "v-secret", "true"):
        assert shown not in out[0] + err


def test_a_valid_stack_exits_zero(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    code, out, err = check(ROOT / "Pulumi.dev.yaml", capsys)
    assert (code, out) == (0, [])
    assert err.endswith("Pulumi.dev.yaml: valid\n")
