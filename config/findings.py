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


class Files(Enum):
    """A missing key, kubeconfig or chart file blocks a deployment but not a review of the file."""

    REQUIRED = "required"
    WARN = "warn"
