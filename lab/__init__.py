"""The local lab (see lab/labctl.py and docs/lab.md)."""
