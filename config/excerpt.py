"""How a message shows a value the user wrote: briefly, whatever its size or shape."""

from __future__ import annotations

import reprlib
from datetime import date
from typing import Any

# Long enough to recognise a value, short enough that an alias bomb prints one line.
MAX_CHARS = 60

_REPR = reprlib.Repr()
_REPR.maxstring = MAX_CHARS
_REPR.maxother = MAX_CHARS
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


def excerpt(value: Any) -> str:
    """The value as YAML would show it, cut to about MAX_CHARS characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= MAX_CHARS else value[:MAX_CHARS] + "..."
        return repr(text)
    text = _REPR.repr(value)
    return text if len(text) <= 2 * MAX_CHARS else text[: 2 * MAX_CHARS] + "..."


def kind(value: Any) -> str:
    """What sort of value it is, in the words of a YAML file."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    return "a value of another type"


def found(value: Any) -> str:
    """`true is a boolean`, `'abc' is a string`, `a mapping`: the value and its kind."""
    if value is None or isinstance(value, dict | list | tuple | set):
        return f"is {kind(value)}"
    return f"{excerpt(value)} is {kind(value)}"
