"""The Rainbond Helm release, fed only from the other parts' outputs."""

from .component import RainbondRelease

__all__ = ["RainbondRelease"]
