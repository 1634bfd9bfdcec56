"""What `pulumi up` would do to a step, worked out from two deployments as the engine does it.

A step is replaced when an input named in its `replace_on_changes` differs, or its `triggers`
differ and are not ignored; it is updated in place when any other input it does not ignore
differs. Enough for node steps (pulumi-command marks only `triggers` as replacing).
"""

from __future__ import annotations

from typing import Literal

import pytest

from components.shared.remote import Script
from tests.unit.conftest import Deployment, Registration, unwrap

COMMAND = "command:remote:Command"
Change = Literal["same", "update", "replace", "create", "delete"]
NEXT_RELEASE = "# the next release\n"


def next_release(monkeypatch: pytest.MonkeyPatch, part: str | None = None) -> None:
    """The next release of this program, as far as steps see it: every script of `part` (the
    folder under components/, or every part) changes."""
    current = Script.text.fget  # type: ignore[attr-defined]

    def text(script: Script) -> str:
        body: str = current(script)
        return body + NEXT_RELEASE if part in (None, script.folder.parent.name) else body

    monkeypatch.setattr(Script, "text", property(text))


def change(before: Registration | None, after: Registration | None) -> Change:
    if before is None:
        return "create"
    if after is None:
        return "delete"
    ignored = set(after.ignore_changes)
    old, new = unwrap(before.inputs), unwrap(after.inputs)
    differs = {
        key for key in set(old) | set(new) if key not in ignored and old.get(key) != new.get(key)
    }
    replacing = set(after.replace_on_changes) | ({"triggers"} - ignored)
    if differs & replacing:
        return "replace"
    return "update" if differs else "same"


def plan(before: Deployment, after: Deployment, type_: str) -> dict[str, Change]:
    """Resource name -> what happens to it, for every resource of `type_` in either."""
    old = {r.name: r for r in before.of_type(type_)}
    new = {r.name: r for r in after.of_type(type_)}
    return {name: change(old.get(name), new.get(name)) for name in sorted(set(old) | set(new))}
