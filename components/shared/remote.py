"""The only code that talks to nodes: scripts run over SSH as pulumi-command resources.

A step is a script from a part's `scripts/` folder run on one node, with non-secret parameters
rendered into the script and secrets sent on stdin. A step that changes a node has
`<step>-delete.sh` to undo it, so `pulumi destroy` leaves the node clean.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local, remote
from pulumi_command.remote import Logging

from config import Node, SshSettings, known_hosts

from .drift import MANIFESTS, DriftProbe, Owned

SHARED_SCRIPTS = Path(__file__).resolve().parent / "scripts"
# Recovery from an interrupted dpkg and the node's package ledger, for every script that
# installs or removes packages.
PACKAGE_HELPERS = (SHARED_SCRIPTS / "packages-recover.sh", SHARED_SCRIPTS / "packages.sh")

# Fail fast on an unreachable node instead of retrying for minutes.
_DIAL_ATTEMPTS = 5
_DIAL_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Script:
    """`<folder>/<name>.sh` as a node runs it: the package helpers first when it declares that
    it uses them, then the folder's `common.sh` when there is one, then the script itself."""

    folder: Path
    name: str
    packages: bool = False

    @property
    def path(self) -> Path:
        return self.folder / f"{self.name}.sh"

    @property
    def delete(self) -> Script:
        """The script that undoes this one."""
        return replace(self, name=f"{self.name}-delete")

    @property
    def text(self) -> str:
        common = self.folder / "common.sh"
        parts = [*(PACKAGE_HELPERS if self.packages else ()), common, self.path]
        return "".join(path.read_text() for path in parts if path.exists())


class Scripts:
    """The node scripts beside a part's module: `Scripts(__file__)("vip", packages=True)`."""

    def __init__(self, module_file: str | Path, *, packages: bool = False) -> None:
        # A folder whose common.sh calls the package helpers declares it once here.
        self.folder = Path(module_file).resolve().parent / "scripts"
        self.packages = packages

    def __call__(self, name: str, *, packages: bool = False) -> Script:
        return Script(self.folder, name, packages or self.packages)


RECORD, PROBE, FORGET = (
    Script(SHARED_SCRIPTS / "drift", name) for name in ("record", "probe", "forget")
)


def _assignments(params: Mapping[str, str]) -> str:
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(params.items()))


def render(body: str, params: Mapping[str, str]) -> str:
    """The command line for a script: parameters as shell variables, then the script itself."""
    return f"bash -c {shlex.quote(_assignments(params) + body)}"


def program(script: Script, params: Mapping[str, str]) -> str:
    """A script as a file a step installs on a node (run later by a timer, say): its parameters
    as shell variables, then the script."""
    return f"#!/bin/bash\n# Installed by rainbond-ha.\n{_assignments(params)}{script.text}"


@dataclass(frozen=True)
class Login:
    """How to log in to one node: the pulumi-command connection and the system ssh client's
    session (drift probes, uploads) come from the same settings, the key file read once."""

    node: Node
    user: str
    port: int
    private_key: pulumi.Output[str]
    host_key: str | None

    @classmethod
    def of(cls, node: Node, ssh: SshSettings) -> Login:
        if ssh.private_key is not None:
            key = ssh.private_key.get_secret_value()
        else:
            assert ssh.private_key_file is not None  # config guarantees one of the two
            key = Path(ssh.private_key_file).read_text()
        return cls(node, ssh.user, ssh.port, pulumi.Output.secret(key), ssh.host_key)

    @cached_property
    def connection(self) -> remote.ConnectionArgs:
        return remote.ConnectionArgs(
            host=self.node.address,
            port=self.port,
            user=self.user,
            private_key=self.private_key,
            host_key=self.host_key,
            dial_error_limit=_DIAL_ATTEMPTS,
            per_dial_timeout=_DIAL_TIMEOUT_SECONDS,
        )

    def session(self, options: str = "") -> tuple[str, str]:
        """Local shell text to log in with the system's ssh client: (setup, ssh command).

        The setup reads the key from stdin into a 0600 file in a private folder removed on
        exit, never argv or the environment; a pinned host key is the only one accepted. The
        ssh command takes the remote command after it.
        """
        known_as = known_hosts.host_name(self.node.address, self.port)
        trust = (
            f"printf '%s %s\\n' {shlex.quote(known_as)} {shlex.quote(self.host_key)}"
            ' >"$dir/known"; '
            'opts="-o UserKnownHostsFile=$dir/known -o StrictHostKeyChecking=yes"'
            if self.host_key
            else 'opts="-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"'
        )
        setup = (
            'set -eu; dir=$(mktemp -d); trap \'rm -rf "$dir"\' EXIT; umask 077; cat >"$dir/key"; '
            f"{trust}; "
        )
        login = f"{self.user}@{self.node.address}"
        ssh = (
            f'ssh -i "$dir/key" $opts {options}-o BatchMode=yes -p {self.port} {shlex.quote(login)}'
        )
        return setup, ssh


class Steps:
    """Creates steps on nodes; `after()` adds dependencies every step then carries."""

    def __init__(self, logins: Mapping[str, Login], after: Sequence[pulumi.Resource] = ()) -> None:
        self._logins = logins
        self._after = list(after)

    @classmethod
    def to(cls, nodes: Sequence[Node], ssh: Mapping[str, SshSettings]) -> Steps:
        """Steps to `nodes`, logging in with `ssh` (node name -> its settings)."""
        return cls({node.name: Login.of(node, ssh[node.name]) for node in nodes})

    def after(self, *resources: pulumi.Resource) -> Steps:
        return Steps(self._logins, [*self._after, *resources])

    def step(
        self,
        name: str,
        node: Node,
        script: Script,
        *,
        parent: pulumi.Resource,
        params: Mapping[str, pulumi.Input[str]],
        stdin: pulumi.Output[str] | None = None,
        secret_stdout: bool = False,
        changes_node: bool = True,
        depends_on: Sequence[pulumi.Resource] = (),
        owns: Owned | None = None,
        follows_role: bool = False,
    ) -> remote.Command:
        """Runs `script` on `node`; a change to what it renders runs it again, in place.

        The script converges the node to what it renders, so a change of configuration, version
        or of this program's scripts re-runs it on the node: nothing it made is removed first,
        and its delete script runs only when the step leaves the stack (its node or component
        goes, `pulumi destroy`, or `pulumi up --replace`), the latest delete it was given.
        A step named by a role rather than a node (`follows_role`: the database source) is
        replaced when the role moves to another node: the old node's delete runs first.
        With `owns`, a refresh that finds those files or services drifted re-runs the script
        in place (components/shared/drift.py).
        """
        create_body = script.text
        delete_body = script.delete.text if changes_node else None

        def commands(values: dict[str, str]) -> tuple[str, str | None]:
            create = render(create_body, values)
            return create, render(delete_body, values) if delete_body is not None else None

        rendered = pulumi.Output.all(**params).apply(commands)
        create: pulumi.Output[str] = rendered[0]
        delete: pulumi.Output[Any] = rendered[1]
        after = [*self._after, *depends_on]
        if owns is not None:
            create, delete = self._watched(name, node, owns, create, delete, after, parent)
        quiet = stdin is not None or secret_stdout
        return remote.Command(
            name,
            connection=self._logins[node.name].connection,
            create=create,
            delete=delete,
            stdin=stdin,
            # Output of a step that reads secrets may echo them; keep it out of the logs.
            logging=Logging.NONE if quiet else Logging.STDOUT_AND_STDERR,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=parent,
                depends_on=after,
                # Stacks deployed before steps updated in place hold a digest of the script in
                # `triggers`, which would replace every step once; the old value is kept.
                ignore_changes=["triggers"],
                replace_on_changes=["connection"] if follows_role else None,
                delete_before_replace=True,
                additional_secret_outputs=["stdout", "stderr"] if quiet else None,
            ),
        )

    def _watched(
        self,
        name: str,
        node: Node,
        owns: Owned,
        create: pulumi.Output[str],
        delete: pulumi.Output[Any],
        after: list[pulumi.Resource],
        parent: pulumi.Resource,
    ) -> tuple[pulumi.Output[str], pulumi.Output[Any]]:
        """The step's commands with the manifest kept, and the create carrying the repairs.

        The manifest is written by its own command after the script, so a script that ends
        early with `exit 0` still records; it is removed after the delete script.
        """
        manifest = {"MANIFESTS": MANIFESTS, "STEP": name}
        record = render(
            RECORD.text,
            {
                **manifest,
                "OWNED_FILES": "\n".join(owns.files),
                "OWNED_SERVICES": "\n".join(owns.services),
            },
        )
        forget = render(FORGET.text, manifest)
        login = self._logins[node.name]
        setup, ssh = login.session(f"-o ConnectTimeout={_DIAL_TIMEOUT_SECONDS} ")
        probe_script = render(PROBE.text, manifest)
        probe = DriftProbe(
            f"{name}-drift",
            node=node.name,
            step=name,
            probe=f"{setup}{ssh} {shlex.quote(probe_script)}",
            private_key=login.private_key,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=after),
        )

        def with_repairs(args: list[Any]) -> str:
            command, repairs = args
            # A comment line: it changes the command, so the engine updates the step in place.
            marker = f"# repair {int(repairs)}\n" if repairs else ""
            return f"{marker}{command} && {record}"

        watched_delete = delete.apply(lambda command: command and f"{command} && {forget}")
        return pulumi.Output.all(create, probe.repairs).apply(with_repairs), watched_delete

    def upload(
        self, name: str, node: Node, source: str, target: str, *, parent: pulumi.Resource
    ) -> local.Command:
        """Copies the files of local directory `source` into `target` on `node` (tar over ssh).

        For large files (air-gapped artifacts) that cannot travel as a step's stdin. The SSH key
        arrives on stdin into a 0600 file removed on exit. Removing `target` is left to the step
        that uses the files, whose delete script runs on the node anyway.
        """
        login = self._logins[node.name]
        files = sorted(p for p in Path(source).expanduser().rglob("*") if p.is_file())
        listing = "".join(f"{p.relative_to(source)}\0{p.stat().st_size}\0" for p in files)
        setup, ssh = login.session()
        remote_side = shlex.quote(f"mkdir -p {target} && tar -C {target} -xf -")
        copy = (
            f"{setup}tar -C {shlex.quote(source)} -cf - . | {ssh} {remote_side}; "
            f"echo copied {len(files)} files to {node.name}:{target}"
        )
        return local.Command(
            name,
            create=copy,
            stdin=login.private_key,
            triggers=[hashlib.sha256(listing.encode()).hexdigest()],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=self._after),
        )
