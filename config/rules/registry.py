"""How a rules module collects its rules, in the order they report."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..findings import Finding

Rule = Callable[..., Iterable[Finding]]


def collector(rules: list[Rule]) -> Callable[[Rule], Rule]:
    """A decorator that appends a rule to `rules`."""

    def rule(fn: Rule) -> Rule:
        rules.append(fn)
        return fn

    return rule
