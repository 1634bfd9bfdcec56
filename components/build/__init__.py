"""The nodes rbd-chaos builds on."""

from .component import BuildNodes

__all__ = ["BuildNodes"]
