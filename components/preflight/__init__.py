"""Facts and checks on every node before anything on a node is changed."""

from .component import Preflight

__all__ = ["Preflight"]
