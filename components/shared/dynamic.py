"""Registering Python dynamic resources without the SDK's pickler leak."""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator


@contextlib.contextmanager
def pickler_restored() -> Iterator[None]:
    """The SDK's serialize_provider wraps pickle's _Pickler methods again on every call and never
    unwraps them: a program with a few hundred dynamic resources overflows the stack."""
    wrapped = ("_batch_setitems", "save_dict")
    saved = {attribute: getattr(pickle._Pickler, attribute) for attribute in wrapped}
    try:
        yield
    finally:
        for attribute, method in saved.items():
            setattr(pickle._Pickler, attribute, method)
