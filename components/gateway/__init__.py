"""The address users reach Rainbond on."""

from .component import Gateway

__all__ = ["Gateway"]
