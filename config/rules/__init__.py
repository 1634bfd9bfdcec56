"""Rules that relate config sections to each other, checked after each section has its shape.

A rule is a generator function whose parameter names are the sections it reads (`nodes`, `ssh`,
`kubernetes`, `gateway`, `registry`, `database`, `rainbond`, `preflight`) and, optionally, `files`
(how to treat referenced files that do not exist). It runs only when every section it names parsed,
so a broken section does not drown the report in follow-on errors. One module per concern:
`cluster` (nodes, roles, addresses, VIPs), `services` (database, registry, Rainbond values) and
`files` (keys, known hosts, kubeconfig, chart, artifacts).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ..findings import Files, Finding, Level, warning
from . import cluster as cluster_rules
from . import files as file_rules
from . import services as service_rules

__all__ = ["Files", "Finding", "Level", "run_rules", "warning"]

RULES = [*cluster_rules.RULES, *service_rules.RULES, *file_rules.RULES]


def run_rules(sections: Mapping[str, Any], files: Files) -> list[Finding]:
    """Runs every rule whose sections are all present in `sections`."""
    available = {**sections, "files": files}
    findings: list[Finding] = []
    for fn in RULES:
        names = inspect.signature(fn).parameters
        if all(name in available for name in names):
            findings.extend(fn(**{name: available[name] for name in names}))
    return findings
