"""A whole platform on the lab that serves while `pulumi up` changes it, and what every change
must keep: updates only, the data and images as they were, every acknowledged row."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pulumi import automation as auto

from components.database import files as database_files
from components.registry import files as registry_files
from lab.labctl import HOST_ADDR, VIP, require_lab_up
from tests.lab_stacks.audit import on
from tests.lab_stacks.harness import component_stack, lab_config
from tests.lab_stacks.probes import Inserts, Manifest, Probes, Report
from tests.lab_stacks.release import run_from

GATEWAY_NODES = ("node1", "node2")
SOURCE, REPLICA, REGISTRY = "node1", "node2", "node3"
GATEWAY_PORT = 18080
LISTENER = "rainbond-ha-day2-gateway"
REPOSITORY, TAG = "rainbond/day2-probe", "1"
# One keepalived failover (the holder resigns or is seen gone) with room for a loaded machine.
ONE_FAILOVER_SECONDS = 4.0
# What must stay as it was: the database files and the registry's images.
KEPT = {
    SOURCE: f"ls -i {database_files.DATA_DIR}/ibdata1 {database_files.DATA_DIR}/console",
    REPLICA: f"ls -i {database_files.DATA_DIR}/ibdata1 {database_files.DATA_DIR}/console",
    REGISTRY: f"cd {registry_files.DATA_DIR} && find . -type f | sort | xargs sha256sum",
}


@dataclass
class Platform:
    stack: auto.Stack
    release: Path
    inserts: Inserts
    manifest: Manifest
    digest: str


@contextlib.contextmanager
def serving_platform(name: str, where: Path, release: Path) -> Iterator[Platform]:
    """The whole platform from the program in `release`, deployed and serving: a stand-in
    gateway on the gateway nodes, a probe table on the source, an image in the registry."""
    require_lab_up()
    database = {**lab_config()["rainbond-ha:database"], "clientNetworks": [f"{HOST_ADDR}/32"]}
    stack = component_stack(name, where, ["platform"], overrides={"database": database})
    run_from(stack, release)
    try:
        for node in GATEWAY_NODES:
            server = f"python3 -m http.server --bind 0.0.0.0 {GATEWAY_PORT}"
            on(node, f"systemd-run --quiet --collect --unit={LISTENER} {server}")
        stack.up(on_output=print)
        outputs = stack.outputs()
        db, registry = outputs["database"].value, outputs["registry"].value
        inserts = Inserts(db["host"], int(db["port"]), db["user"], db["password"])
        inserts.create_table()
        ca = on(REGISTRY, f"cat {registry_files.CA_FILE}")
        manifest = Manifest(registry["domain"], registry["username"], registry["password"], ca)
        digest = manifest.push(REPOSITORY, TAG)
        yield Platform(stack, release, inserts, manifest, digest)
    finally:
        for node in GATEWAY_NODES:
            on(node, f"systemctl stop {LISTENER} || true")
        stack.destroy(on_output=print)


def kept() -> dict[str, str]:
    return {node: on(node, command) for node, command in KEPT.items()}


@dataclass
class Rolled:
    """What one `up` did: the probes' reports and the resources it created or deleted."""

    probes: Probes
    created: list[str]
    deleted: list[str]

    def report(self, name: str) -> Report:
        return self.probes.report(name)


def rolled(platform: Platform, node: str | None = None, new: Collection[str] = ()) -> Rolled:
    """Previews, then runs `pulumi up` with the probes running; checks what every change must:
    no replace; a create or delete only of a resource named after `node` (joining or leaving)
    or named in `new`; the data and images kept; no acknowledged row lost."""
    allowed = {"same", "update", "read", "refresh"}
    summary = platform.stack.preview().change_summary.items()
    # The summary's keys are plain strings at run time, whatever the annotation says.
    preview = {auto.OpType(op).value: count for op, count in summary}
    assert set(preview) - {"create", "delete"} <= allowed, preview
    assert set(preview) != {"same"}, "the change changed nothing"
    before = kept()
    probes = Probes(
        f"http://{VIP}:{GATEWAY_PORT}/",
        platform.inserts,
        platform.manifest.fetcher(REPOSITORY, TAG, platform.digest),
    )
    operations: list[tuple[str, str]] = []
    with probes:
        platform.stack.up(on_output=print, on_event=partial(record_operation, operations))
    created = [name for op, name in operations if op == "create"]
    deleted = [name for op, name in operations if op == "delete"]
    unexpected = [
        (op, name)
        for op, name in operations
        if op not in allowed
        and not (op in ("create", "delete") and ((node and node in name) or name in new))
    ]
    assert not unexpected, unexpected
    after = kept()
    assert {k: v for k, v in after.items() if k != node} == {
        k: v for k, v in before.items() if k != node
    }
    assert_no_acknowledged_row_lost(platform.inserts)
    return Rolled(probes, created, deleted)


def assert_no_acknowledged_row_lost(inserts: Inserts) -> None:
    position = on(SOURCE, "mariadb -N -B", "SELECT @@GLOBAL.gtid_binlog_pos").strip()
    waited = on(REPLICA, "mariadb -N -B", f"SELECT MASTER_GTID_WAIT('{position}', 60)").strip()
    assert waited == "0", f"{REPLICA} did not catch up with {position}"
    for node in (SOURCE, REPLICA):
        stored = on(node, "mariadb -N -B", f"SELECT id FROM {Inserts.TABLE}").split()
        missing = set(inserts.acked) - {int(row) for row in stored}
        assert not missing, f"{node} lacks acknowledged rows {sorted(missing)[:10]}"


def record_operation(operations: list[tuple[str, str]], event: auto.EngineEvent) -> None:
    """The engine's operation on each resource (and the resource's name), as its step starts."""
    if event.resource_pre_event is not None:
        metadata = event.resource_pre_event.metadata
        operations.append((str(metadata.op.value), metadata.urn.split("::")[-1]))
