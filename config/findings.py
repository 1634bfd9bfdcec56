"""What validation reports: one finding per problem, naming the config path, what is wrong and
what would be right."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Level(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    path: str
    wrong: str
    right: str
    level: Level = Level.ERROR

    @property
    def message(self) -> str:
        return f"{self.path}: {self.wrong}; {self.right}"

    def __str__(self) -> str:
        return f"warning: {self.message}" if self.level is Level.WARNING else self.message


def warning(path: str, wrong: str, right: str) -> Finding:
    return Finding(path, wrong, right, Level.WARNING)


# A broken file can have thousands of problems; the first ones are those worth reading.
MAX_LINES = 50


def capped(lines: list[str], what: str) -> list[str]:
    """At most MAX_LINES lines, then one that counts the rest."""
    if len(lines) <= MAX_LINES:
        return lines
    return [*lines[:MAX_LINES], f"... and {len(lines) - MAX_LINES} more {what} not shown"]


class Files(Enum):
    """A missing key, kubeconfig or chart file blocks a deployment but not a review of the file."""

    REQUIRED = "required"
    WARN = "warn"
