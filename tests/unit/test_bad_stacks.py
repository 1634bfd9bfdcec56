"""Every stack file in tests/corpus/bad-stacks is rejected, naming the key it gets wrong.

Each file holds one mistake and says which key the error must name (`# Expect: <path>`). The file
is read as `config check` reads it; validation runs as under the engine (missing files are
errors), before any resource exists.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.excerpt import excerpt
from config.rules import Files
from config.stackfile import read_stack
from config.validate import PROJECT, validate

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "bad-stacks"
STACKS = sorted(CORPUS.glob("*.yaml"))


def expected_key(stack_file: Path) -> str:
    for line in stack_file.read_text().splitlines():
        if line.startswith("# Expect: "):
            return line.removeprefix("# Expect: ")
    raise AssertionError(f"{stack_file.name} says nothing about the key it expects")


def problems(stack_file: Path) -> list[str]:
    stack = read_stack(stack_file, PROJECT)
    if stack.findings and not stack.raw:
        return [str(problem) for problem in stack.findings]
    report = validate(stack.raw, root=CORPUS, files=Files.REQUIRED, stack_file=True)
    assert report.spec is None or stack.findings
    return [str(problem) for problem in [*stack.findings, *report.problems]]


def test_the_corpus_has_at_least_sixty_broken_stacks() -> None:
    assert len(STACKS) >= 60


# Left out of "one line": older files whose mistake rightly shows at two places (both nodes of a
# duplicate).
ONE_LINE = {path for path in STACKS if int(path.name[:2]) >= 40 or path.name[:2] in ("12", "13")}


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.stem)
def test_broken_stack_is_rejected_naming_its_key(stack_file: Path) -> None:
    key = expected_key(stack_file)
    lines = problems(stack_file)
    # A problem of the file itself (its YAML, where its keys are) starts with the file's name
    # and quotes the key.
    assert any(
        line.startswith((f"{key}:", f"{key}.", f"{key}["))
        or (line.startswith(f"{stack_file}:") and excerpt(key) in line)
        for line in lines
    ), lines
    if stack_file in ONE_LINE:
        assert len(lines) == 1, lines
