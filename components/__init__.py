"""One ComponentResource per part of the platform; `RainbondPlatform` wires them together."""
