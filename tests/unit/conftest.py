"""Runs the Pulumi program against mocks: no engine, no network, no node.

`deploy(stack_config)` evaluates __main__.py with the given `rainbond-ha:` config and returns every
registration (type, parent, dependencies, inputs) and the stack outputs with their secretness.
"""

from __future__ import annotations

import hashlib
import json
import runpy
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import mocks, rpc, settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "rainbond-ha"
SECRET_SIG = rpc._special_sig_key

FAKE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: default
  cluster: {server: "https://192.0.2.20:6443"}
contexts:
- name: default
  context: {cluster: default, user: default}
current-context: default
users:
- name: default
  user: {token: fake}
"""


def fake_password(name: str, length: int) -> str:
    """Deterministic per resource, and unlike any word a script or value could contain."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    return (digest * (1 + length // len(digest)))[:length]


def fake_bcrypt(password: str) -> str:
    """Shaped like a bcrypt hash and traceable to its password; not a real hash."""
    return f"$2a$10$fake{password}"


FAKE_EPOCH = "1700000000"


def fake_preflight_facts(node: str) -> str:
    """A healthy Debian 12 node as scripts/preflight/check.sh reports it."""
    facts = {
        "user": "root",
        "sudo": "root",
        "hostname": node,
        "machine_id": hashlib.md5(node.encode()).hexdigest(),
        "os_id": "debian",
        "os_version_id": "12",
        "os_name": "Debian GNU/Linux 12 (bookworm)",
        "arch": "x86_64",
        "kernel": "6.1.0-18-amd64",
        "mem_kib": str(16 << 20),
        "swap_kib": "0",
        "firewall_tools": "no",
        "epoch": FAKE_EPOCH,
    }
    disks = [f"disk\t{path}\t{path}\t{100 << 20}" for path in ("/opt/rainbond", "/var/lib/rancher")]
    return "\n".join([*(f"{name}\t{value}" for name, value in facts.items()), *disks])


class Mocks(pulumi.runtime.Mocks):
    """Fabricates what providers would compute: passwords, command output, release status."""

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            state["result"] = fake_password(args.name, int(args.inputs["length"]))
            state["bcryptHash"] = fake_bcrypt(state["result"])
        elif args.typ == "command:remote:Command" and args.name.startswith("preflight-"):
            state["stdout"] = fake_preflight_facts(args.name.removeprefix("preflight-"))
        elif args.typ == "command:local:Command" and args.name.endswith("-clock"):
            state["stdout"] = FAKE_EPOCH
        elif args.typ == "command:remote:Command":
            kubeconfig = args.name.endswith("-kubeconfig")
            state["stdout"] = FAKE_KUBECONFIG if kubeconfig else f"{args.name}: ok\n"
            state["stderr"] = ""
        elif args.typ == "kubernetes:helm.sh/v3:Release":
            state["status"] = {"status": "deployed", "name": args.inputs.get("name")}
        return (f"{args.name}-id" if args.custom else None), state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]
    aliases: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)


class RecordingMonitor(mocks.MockMonitor):
    """A MockMonitor that also keeps what the program asked for: parent and dependencies."""

    def __init__(self, fakes: mocks.Mocks) -> None:
        super().__init__(fakes)
        self.registrations: dict[str, Registration] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        self.registrations[response.urn] = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            dependencies=list(request.dependencies),
            inputs=rpc.deserialize_properties(request.object),
            aliases=[_alias_urn(request, alias) for alias in request.aliases],
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
        )
        return response


def _qualified_type(urn: str) -> str:
    return urn.split("::")[2]


def _alias_urn(request: Any, alias: Any) -> str:
    """The URN an alias names, resolved as the engine resolves an alias spec."""
    if alias.urn:
        return str(alias.urn)
    spec = alias.spec
    name = spec.name or request.name
    type_ = spec.type or request.type
    parent = "" if spec.noParent else (spec.parentUrn or request.parent)
    qualified = f"{_qualified_type(parent)}${type_}" if parent else type_
    stack = spec.stack or "unit"
    project = spec.project or PROJECT
    return f"urn:pulumi:{stack}::{project}::{qualified}::{name}"


@dataclass(frozen=True)
class Exported:
    value: Any
    secret: bool


@dataclass
class Deployment:
    registrations: dict[str, Registration]
    outputs: dict[str, Exported] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations.values() if r.type == type_]

    def named(self, name: str) -> Registration:
        (match,) = [r for r in self.registrations.values() if r.name == name]
        return match

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.registrations.values() if r.parent == parent.urn]


def depends_on(deployment: Deployment, resource: Registration, name: str) -> bool:
    """Whether `resource` waits for the resource called `name`."""
    return deployment.named(name).urn in resource.dependencies


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == rpc._special_secret_sig


def unwrap(value: Any) -> Any:
    """Removes the secret markers mocks see in inputs, recursively."""
    if is_secret(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


async def _export(value: Any) -> Exported:
    output = pulumi.Output.from_input(value)
    return Exported(await output.future(), bool(await output.is_secret()))


def deploy(stack_config: dict[str, Any]) -> Deployment:
    """Evaluates the program with `stack_config` (keys without the `rainbond-ha:` prefix)."""
    saved = deepcopy(settings.SETTINGS)
    settings.ROOT.set(None)
    fakes = Mocks()
    monitor = RecordingMonitor(fakes)
    pulumi.runtime.set_mocks(fakes, project=PROJECT, stack="unit", preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": json.dumps(value) for key, value in stack_config.items()}
    )
    deployment = Deployment(monitor.registrations)

    @pulumi.runtime.test
    async def run() -> None:
        runpy.run_path(str(ROOT / "__main__.py"))
        stack = settings.get_root_resource()
        assert stack is not None
        for name, value in stack.outputs.items():  # type: ignore[attr-defined]
            if isinstance(value, dict):
                parts = {key: await _export(item) for key, item in value.items()}
                deployment.outputs[name] = Exported(
                    {key: part.value for key, part in parts.items()},
                    any(part.secret for part in parts.values()),
                )
                deployment.outputs[f"{name}.secret_keys"] = Exported(
                    sorted(key for key, part in parts.items() if part.secret), False
                )
            else:
                deployment.outputs[name] = await _export(value)

    try:
        run()
    finally:
        settings.configure(saved)
        pulumi.runtime.set_all_config({})
    return deployment


def stack_config(path: Path) -> dict[str, Any]:
    """The `rainbond-ha:` keys of a stack file, prefix removed."""
    document = yaml.safe_load(path.read_text())
    prefix = f"{PROJECT}:"
    return {
        key.removeprefix(prefix): value
        for key, value in document["config"].items()
        if key.startswith(prefix)
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home folder holding the example stacks' SSH key and known hosts (`~/.ssh/...`)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    key = tmp_path / ".ssh" / "rainbond_ha_ed25519"
    key.parent.mkdir()
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n")
    write_known_hosts(tmp_path)
    return tmp_path


def write_known_hosts(home: Path) -> None:
    """One host key for every node, as `~/.ssh/rainbond_ha_known_hosts` (the examples' pin)."""
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    (home / ".ssh" / "rainbond_ha_known_hosts").write_text(f"* {key}\n")


@pytest.fixture
def dev_config(home: Path) -> dict[str, Any]:
    return stack_config(ROOT / "Pulumi.dev.yaml")


@pytest.fixture
def dev(dev_config: dict[str, Any]) -> Deployment:
    return deploy(dev_config)


Edit = Callable[[dict[str, Any]], None]


def edited(config: dict[str, Any], *edits: Edit) -> dict[str, Any]:
    """A deep copy of `config` with each edit applied."""
    copy = deepcopy(config)
    for edit in edits:
        edit(copy)
    return copy


def iter_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_strings(item)


def assert_in_order(script: str, *markers: str) -> None:
    """Each marker is in `script`, the first occurrences in the order given."""
    positions = [script.index(marker) for marker in markers]
    assert positions == sorted(positions), dict(zip(markers, positions, strict=True))
