"""Typed stack configuration: `load()` under the engine, `python -m config check FILE` without."""

from .engine import ConfigError, load
from .model import ClusterSpec, Node, Role

__all__ = ["ClusterSpec", "ConfigError", "Node", "Role", "load"]
