"""The local lab (docs/lab.md): tests and tools import from lab.labctl; the command is lab/lab."""
