"""Day 2 on a running platform: each change rolls through the nodes while the platform serves.

One whole-platform stack on the lab runs a copy of the program, so a test can change it as the
next release would. Around every `pulumi up`, probes from the host call the gateway VIP (HTTP,
every 100 ms, a stand-in gateway on node1 and node2), the database source (an INSERT as the
Rainbond user every 100 ms) and the registry (a manifest fetch every 500 ms); each test prints
what they saw. In order: a release that edits every script, a keepalived setting, a database
setting that needs a restart, and the registry's configuration. Each previews as updates only;
no acknowledged row is lost, the data and the images stay. About 6 minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from components.registry import files as registry_files
from tests.lab_stacks.audit import on
from tests.lab_stacks.harness import lab_config, set_section
from tests.lab_stacks.release import copy_release, edit
from tests.lab_stacks.rolling import (
    ONE_FAILOVER_SECONDS,
    REGISTRY,
    REPLICA,
    SOURCE,
    Platform,
    rolled,
    serving_platform,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    where = tmp_path_factory.mktemp("day2")
    with serving_platform("day2", where, copy_release(where / "release")) as serving:
        yield serving


def test_a_release_that_edits_every_script_restarts_nothing(platform: Platform) -> None:
    for script in sorted((platform.release / "components").glob("**/scripts/**/*.sh")):
        script.write_text(script.read_text() + "# the next release\n")
    probes = rolled(platform)
    for name in ("gateway VIP", "database inserts", "registry manifest"):
        assert probes.report(name).failures == 0, probes.report(name)


def test_a_keepalived_setting_rolls_through_the_pair(platform: Platform) -> None:
    gateway: dict[str, Any] = lab_config()["rainbond-ha:gateway"]
    set_section(platform.stack, "gateway", {**gateway, "checkPorts": [80, 443, 8443]})
    probes = rolled(platform)
    assert probes.report("gateway VIP").longest_outage <= ONE_FAILOVER_SECONDS
    assert probes.report("database inserts").failures == 0
    assert probes.report("registry manifest").failures == 0


def test_a_database_setting_that_needs_a_restart(platform: Platform) -> None:
    edit(
        platform.release,
        "components/database/files.py",
        '"skip-name-resolve",',
        '"skip-name-resolve",\n        "max-connections = 301",',
    )
    probes = rolled(platform)
    for node in (SOURCE, REPLICA):
        assert on(node, "mariadb -N -B", "SELECT @@GLOBAL.max_connections").strip() == "301"
    # The source restarts once: inserts fail for that long, and none that was acknowledged is lost.
    print(f"longest insert gap: {probes.report('database inserts').longest_outage:.2f} s")
    assert probes.report("gateway VIP").failures == 0


def test_the_registry_configuration(platform: Platform) -> None:
    edit(
        platform.release,
        "components/registry/files.py",
        '"log": {"fields": {"service": "registry"}},',
        '"log": {"level": "info", "fields": {"service": "registry"}},',
    )
    probes = rolled(platform)
    assert "level: info" in on(REGISTRY, f"cat {registry_files.CONFIG_DIR}/config.yml")
    print(f"longest registry gap: {probes.report('registry manifest').longest_outage:.2f} s")
    assert probes.report("gateway VIP").failures == 0
    assert probes.report("database inserts").failures == 0


def test_a_second_up_changes_nothing(platform: Platform) -> None:
    result = platform.stack.up(on_output=print)
    assert set(result.summary.resource_changes or {}) == {"same"}
