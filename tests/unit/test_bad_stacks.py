"""Every stack file in tests/corpus/bad-stacks is rejected, naming the key it gets wrong.

Each file holds one mistake and says which key the error must name (`# Expect: <path>`).
Validation runs as under the engine (missing files are errors), before any resource exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.rules import Files
from config.validate import PROJECT, validate

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "bad-stacks"
STACKS = sorted(CORPUS.glob("*.yaml"))


def expected_key(stack_file: Path) -> str:
    for line in stack_file.read_text().splitlines():
        if line.startswith("# Expect: "):
            return line.removeprefix("# Expect: ")
    raise AssertionError(f"{stack_file.name} says nothing about the key it expects")


def test_the_corpus_has_at_least_thirty_broken_stacks() -> None:
    assert len(STACKS) >= 30


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.stem)
def test_broken_stack_is_rejected_naming_its_key(stack_file: Path) -> None:
    config = yaml.safe_load(stack_file.read_text())["config"]
    raw = {key.removeprefix(f"{PROJECT}:"): value for key, value in config.items()}
    report = validate(raw, root=CORPUS, files=Files.REQUIRED, stack_file=True)
    assert report.spec is None
    key = expected_key(stack_file)
    lines = [str(problem) for problem in report.problems]
    assert any(line.startswith((f"{key}:", f"{key}.", f"{key}[")) for line in lines), lines
