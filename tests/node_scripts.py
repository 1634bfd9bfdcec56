"""The node scripts: every file in a part's scripts/ folder, and every script a part declares."""

from __future__ import annotations

import importlib
from pathlib import Path

from components.shared.remote import Script

ROOT = Path(__file__).resolve().parents[1]
# The modules that declare the scripts their steps run.
PART_MODULES = (
    "components.build.component",
    "components.database.backup",
    "components.database.component",
    "components.keepalived.vip",
    "components.kubernetes.admin",
    "components.kubernetes.etcd_snapshots",
    "components.kubernetes.kubeadm",
    "components.kubernetes.rke2",
    "components.preflight.component",
    "components.registry.component",
    "components.shared.remote",
)


def script_files() -> list[Path]:
    return sorted((ROOT / "components").glob("**/scripts/**/*.sh"))


def declared() -> list[Script]:
    """Every Script a part declares, with its delete twin where the part has one."""
    found: list[Script] = []
    for name in PART_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, Script):
                found.append(value)
                if value.delete.path.exists():
                    found.append(value.delete)
    return found
