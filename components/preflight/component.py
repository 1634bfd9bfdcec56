"""Facts and checks on every node before anything on a node is changed.

Each node reports its facts in parallel (read-only); the local clock is read right after each
node's facts for the clock check; then the program compares the facts with the configuration and
across nodes (`checks.py`). The verdict prints a table in the log and becomes the stack
output `preflight`. Every error stops the deploy: the `<name>-passed` resource takes the verdict
as input, so it is never created when a check fails, and every step that changes a node waits for
that resource. Preflight alone takes the whole configuration: it checks the nodes against all of it.
"""

from __future__ import annotations

import shlex
from typing import Any

import pulumi
from pulumi_command import local

from config import ClusterSpec

from ..shared.remote import Scripts, Steps
from . import checks
from .clock import clock_commands
from .host_keys import HostKeyCheck

CHECK = Scripts(__file__)("check")


class Preflight(pulumi.ComponentResource):
    """Every step that changes a node waits for `passed` (see `Steps.after`)."""

    results: pulumi.Output[dict[str, Any]]

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        steps: Steps,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("rainbond-ha:preflight:Preflight", name, None, opts)
        pins = HostKeyCheck(
            f"{name}-host-keys",
            {node.name: (node.address, spec.logins[node.name]) for node in spec.nodes},
            pulumi.ResourceOptions(parent=self),
        )
        # Every step waits for these facts, and they wait for the host keys.
        steps = steps.after(pins)
        facts: dict[str, pulumi.Output[str]] = {}
        local_epochs: dict[str, pulumi.Output[str]] = {}
        urns: dict[str, pulumi.Output[str]] = {}
        for node_name, node_plan in checks.plan(spec).items():
            step = steps.step(
                f"{name}-{node_name}",
                node_plan.node,
                CHECK,
                parent=self,
                changes_node=False,
                params={
                    "NODE_NAME": node_name,
                    "DISK_PATHS": " ".join(node_plan.disk_paths),
                    "PORTS": " ".join(map(str, node_plan.ports)),
                },
            )
            commands = step.stdout.apply(clock_commands)
            clock = local.Command(
                f"{name}-{node_name}-clock",
                create=commands[0],
                update=commands[1],
                # Earlier stacks kept the facts' digest in triggers.
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["triggers"]),
            )
            facts[node_name], local_epochs[node_name], urns[node_name] = (
                step.stdout,
                clock.stdout,
                step.urn,
            )
        findings = pulumi.Output.all(
            pulumi.Output.all(**facts), pulumi.Output.all(**local_epochs), pulumi.Output.all(**urns)
        ).apply(lambda values: self._verdict(spec, *values))
        self.results = findings.apply(checks.results)
        self.passed = local.Command(
            f"{name}-passed",
            create=findings.apply(lambda found: f"echo {shlex.quote(checks.summary(found))}"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"results": self.results})

    def _verdict(
        self,
        spec: ClusterSpec,
        facts: dict[str, str],
        local_epochs: dict[str, str],
        urns: dict[str, str],
    ) -> list[checks.Finding]:
        findings = checks.evaluate(
            spec,
            {node: checks.parse_facts(text) for node, text in facts.items()},
            {node: int(epoch) for node, epoch in local_epochs.items()},
        )
        pulumi.log.info("preflight:\n" + checks.table(findings), resource=self)
        for finding in findings:
            if finding.level == checks.Level.WARNING:
                pulumi.log.warn(
                    f"preflight {finding.node} {finding.check}: {finding.detail}", resource=self
                )
        if checks.errors(findings):
            raise pulumi.RunError(checks.failure(findings, urns))
        return findings
