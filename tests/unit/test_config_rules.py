"""Each validation rule, with a config that passes it and one that breaks it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.rules import Files
from config.validate import validate
from tests.unit.conftest import ROOT, edited
from tests.unit.edits import findings, put
from tests.unit.rule_cases import CASES


@pytest.mark.parametrize(
    ("good", "expected"), [(c[1], c[3]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_passes(dev_config: dict[str, Any], good: list[Any], expected: str) -> None:
    lines = findings(edited(dev_config, *good))
    assert not [line for line in lines if line.startswith(expected)]
    assert not [line for line in lines if not line.startswith("warning: ")]


@pytest.mark.parametrize(
    ("bad", "expected"), [(c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_fails(dev_config: dict[str, Any], bad: list[Any], expected: str) -> None:
    report = validate(edited(dev_config, *bad), root=ROOT, files=Files.REQUIRED)
    matching = [str(f) for f in report.findings if str(f).startswith(expected)]
    assert len(matching) == 1, [str(f) for f in report.findings]
    if not expected.startswith("warning: "):
        assert report.spec is None


def test_dev_stack_is_valid(dev_config: dict[str, Any]) -> None:
    report = validate(dev_config, root=ROOT, files=Files.REQUIRED)
    assert report.spec is not None
    assert [str(w) for w in report.warnings] == [
        "warning: registry.mode: managed runs one registry on rbd-3; image pulls fail while it is"
        " down; use an external HA registry for production"
    ]


def test_all_problems_at_once(dev_config: dict[str, Any]) -> None:
    config = edited(
        dev_config,
        *(put(f"nodes[{i}].roles", ["master", "gateway", "mysql"]) for i in (0, 1)),
        put("gateway.vip", "192.0.2.11/24"),
        put("database.engine", "postgres"),
        put("registry.mode", "harbor"),
        put("kubernetes.version", 130),
    )
    problems = [f.path for f in validate(config, root=ROOT, files=Files.REQUIRED).problems]
    assert problems == [
        "kubernetes.version",
        "registry.mode",
        "database.engine",
        "nodes",
        "gateway.vip",
    ]


def test_relative_and_home_paths_resolve(dev_config: dict[str, Any], home: Path) -> None:
    config = edited(dev_config, put("rainbond.chart", "charts/rainbond.tgz"))
    spec = validate(config, root=ROOT, files=Files.WARN).spec
    assert spec is not None
    assert spec.ssh.private_key_file == str(home / ".ssh" / "rainbond_ha_ed25519")
    assert spec.rainbond.chart == str(ROOT / "charts" / "rainbond.tgz")


def test_missing_files_only_warn_when_reviewing(dev_config: dict[str, Any]) -> None:
    config = edited(dev_config, put("ssh.privateKeyFile", "~/.ssh/absent"))
    lines = findings(config, Files.WARN)
    assert [line for line in lines if line.startswith("warning: ssh.privateKeyFile: ")]
    assert validate(config, root=ROOT, files=Files.WARN).spec is not None


def test_internal_address_defaults_to_ssh_address(dev_config: dict[str, Any]) -> None:
    spec = validate(dev_config, root=ROOT, files=Files.REQUIRED).spec
    assert spec is not None
    assert str(spec.nodes[0].internal_address) == "192.0.2.11"


def test_node_ssh_overrides_defaults(dev_config: dict[str, Any]) -> None:
    config = edited(dev_config, put("nodes[1].ssh", {"user": "admin", "port": 2222}))
    spec = validate(config, root=ROOT, files=Files.REQUIRED).spec
    assert spec is not None
    ssh = spec.ssh_for(spec.nodes[1])
    assert (ssh.user, ssh.port, ssh.private_key_file) == (
        "admin",
        2222,
        spec.ssh.private_key_file,
    )
    assert spec.ssh_for(spec.nodes[0]).user == "root"
