"""Typed stack configuration: `load()` under the engine, `python -m config check FILE` without."""

from .engine import ConfigError, load
from .model import ClusterSpec, Node, Role, SshSettings

__all__ = ["ClusterSpec", "ConfigError", "Node", "Role", "SshSettings", "load"]
