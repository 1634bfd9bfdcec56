"""The only code that talks to nodes: scripts run over SSH as pulumi-command resources.

A step is a script from `components/scripts/<component>/<step>.sh` run on one node, with
non-secret parameters rendered into the script and secrets sent on stdin. A step that changes a
node has `<step>-delete.sh` to undo it, so `pulumi destroy` leaves the node clean.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local, remote
from pulumi_command.remote import Logging

from config import ClusterSpec, Node, known_hosts

from .drift import MANIFESTS, DriftProbe, Owned

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# Recovery from an interrupted dpkg and the node's package ledger, for every script that
# installs or removes packages.
_PACKAGES = (SCRIPTS / "packages-recover.sh", SCRIPTS / "packages.sh")
_USES_PACKAGES = re.compile(r"^\s*[^#\n]*\bpackages_(install|remove|recover|brought)\b", re.M)

# Fail fast on an unreachable node instead of retrying for minutes.
_DIAL_ATTEMPTS = 5
_DIAL_TIMEOUT_SECONDS = 10


def script(component: str, name: str) -> str:
    # A component's common.sh, when it has one, holds helpers its scripts share; it goes first,
    # after the project-wide package helpers for a script that calls them.
    common = SCRIPTS / component / "common.sh"
    body = (SCRIPTS / component / f"{name}.sh").read_text()
    text = common.read_text() + body if common.exists() else body
    if not _USES_PACKAGES.search(text):
        return text
    return "".join(path.read_text() for path in _PACKAGES) + text


def render(body: str, params: Mapping[str, str]) -> str:
    """The command line for a script: parameters as shell variables, then the script itself."""
    header = "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(params.items()))
    return f"bash -c {shlex.quote(header + body)}"


def _connection(spec: ClusterSpec, node: Node) -> remote.ConnectionArgs:
    ssh = spec.ssh_for(node)
    if ssh.private_key is not None:
        key = ssh.private_key.get_secret_value()
    else:
        assert ssh.private_key_file is not None  # config guarantees one of the two
        key = Path(ssh.private_key_file).read_text()
    return remote.ConnectionArgs(
        host=node.address,
        port=ssh.port,
        user=ssh.user,
        private_key=pulumi.Output.secret(key),
        host_key=ssh.host_key,
        dial_error_limit=_DIAL_ATTEMPTS,
        per_dial_timeout=_DIAL_TIMEOUT_SECONDS,
    )


class Remote:
    """Creates steps on the cluster's nodes; `after()` adds dependencies every step then carries."""

    def __init__(
        self,
        connections: Mapping[str, remote.ConnectionArgs],
        after: Sequence[pulumi.Resource] = (),
    ) -> None:
        self._connections = connections
        self._after = list(after)

    @classmethod
    def for_cluster(cls, spec: ClusterSpec) -> Remote:
        # One connection per node, so each key file is read once.
        return cls({node.name: _connection(spec, node) for node in spec.nodes})

    def after(self, *resources: pulumi.Resource) -> Remote:
        return Remote(self._connections, [*self._after, *resources])

    def step(
        self,
        name: str,
        node: Node,
        component: str,
        script_name: str,
        *,
        parent: pulumi.Resource,
        params: Mapping[str, pulumi.Input[str]],
        stdin: pulumi.Output[str] | None = None,
        secret_stdout: bool = False,
        changes_node: bool = True,
        depends_on: Sequence[pulumi.Resource] = (),
        owns: Owned | None = None,
        replace_on: Sequence[str] | None = None,
    ) -> remote.Command:
        """Runs `script_name` on `node`; it re-runs only when what it renders changes.

        A change replaces the step: the old delete script runs before the new create script,
        so a node never ends up with the old step's cleanup applied over the new configuration.
        With `replace_on`, only a change of those values replaces it: any other change updates
        it in place (the create runs again, destroy runs the new delete), for a step whose
        delete must run only when what it names goes away.
        With `owns`, a refresh that finds those files or services drifted re-runs the script
        in place (components/drift.py).
        """
        create_body = script(component, script_name)
        delete_body = script(component, f"{script_name}-delete") if changes_node else None

        def commands(values: dict[str, str]) -> tuple[str, str | None, str]:
            create = render(create_body, values)
            delete = render(delete_body, values) if delete_body is not None else None
            digest = hashlib.sha256(f"{create}\0{delete or ''}".encode()).hexdigest()
            return create, delete, digest

        rendered = pulumi.Output.all(**params).apply(commands)
        create: pulumi.Output[str] = rendered[0]
        delete: pulumi.Output[Any] = rendered[1]
        after = [*self._after, *depends_on]
        if owns is not None:
            create, delete = self._watched(name, node, owns, create, delete, after, parent)
        quiet = stdin is not None or secret_stdout
        return remote.Command(
            name,
            connection=self._connections[node.name],
            create=create,
            delete=delete,
            # Only the script's rendering: a repair or the manifest bookkeeping is an update.
            triggers=[rendered[2]] if replace_on is None else list(replace_on),
            stdin=stdin,
            # Output of a step that reads secrets may echo them; keep it out of the logs.
            logging=Logging.NONE if quiet else Logging.STDOUT_AND_STDERR,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=parent,
                depends_on=after,
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
            script("drift", "record"),
            {
                **manifest,
                "OWNED_FILES": "\n".join(owns.files),
                "OWNED_SERVICES": "\n".join(owns.services),
            },
        )
        forget = render(script("drift", "forget"), manifest)
        connection = self._connections[node.name]
        setup, ssh = _ssh_session(connection, node, f"-o ConnectTimeout={_DIAL_TIMEOUT_SECONDS} ")
        probe = DriftProbe(
            f"{name}-drift",
            node=node.name,
            step=name,
            probe=f"{setup}{ssh} {shlex.quote(render(script('drift', 'probe'), manifest))}",
            private_key=pulumi.get(connection, "private_key"),
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
        connection = self._connections[node.name]
        files = sorted(p for p in Path(source).expanduser().rglob("*") if p.is_file())
        listing = "".join(f"{p.relative_to(source)}\0{p.stat().st_size}\0" for p in files)
        setup, ssh = _ssh_session(connection, node)
        remote_side = shlex.quote(f"mkdir -p {target} && tar -C {target} -xf -")
        script = (
            f"{setup}tar -C {shlex.quote(source)} -cf - . | {ssh} {remote_side}; "
            f"echo copied {len(files)} files to {node.name}:{target}"
        )
        return local.Command(
            name,
            create=script,
            stdin=pulumi.get(connection, "private_key"),
            triggers=[hashlib.sha256(listing.encode()).hexdigest()],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=self._after),
        )


def _ssh_session(
    connection: remote.ConnectionArgs, node: Node, options: str = ""
) -> tuple[str, str]:
    """Local shell text to log in to `node` with the system's ssh client: (setup, ssh command).

    The setup reads the key from stdin into a 0600 file in a private folder removed on exit,
    never argv or the environment; a pinned host key is the only one accepted. The ssh command
    takes the remote command after it.
    """
    host_key = pulumi.get(connection, "host_key")
    port = pulumi.get(connection, "port")
    known_as = known_hosts.host_name(node.address, port)
    trust = (
        f"printf '%s %s\\n' {shlex.quote(known_as)} {shlex.quote(host_key)}"
        ' >"$dir/known"; '
        'opts="-o UserKnownHostsFile=$dir/known -o StrictHostKeyChecking=yes"'
        if host_key
        else 'opts="-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"'
    )
    setup = (
        'set -eu; dir=$(mktemp -d); trap \'rm -rf "$dir"\' EXIT; umask 077; cat >"$dir/key"; '
        f"{trust}; "
    )
    login = f"{pulumi.get(connection, 'user')}@{node.address}"
    ssh = f'ssh -i "$dir/key" $opts {options}-o BatchMode=yes -p {port} {shlex.quote(login)}'
    return setup, ssh
