"""The image registry Rainbond pushes builds to, and its trust on every node."""

from .component import ImageRegistry

__all__ = ["ImageRegistry"]
