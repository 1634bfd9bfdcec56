"""Steps that act on the cluster from its first master, with that master's admin credentials:
each worker's membership (its drain when it leaves), a worker's drain before its upgrade, and the
kubeconfig Pulumi uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi
from pulumi_command import remote

from config import Node

from ..shared.remote import Scripts, Steps
from .kubeconfig import renewal_period

# The ServiceAccount whose token is Pulumi's (and the stack output's) cluster credential.
PULUMI_ACCOUNT = "rainbond-ha"
KUBECONFIG = Scripts(__file__)("kubeconfig")
MEMBER = Scripts(__file__)("member")
UPGRADE_DRAIN = Scripts(__file__)("upgrade-drain")
# How long a new worker may take to register and become Ready.
_MEMBER_WAIT_SECONDS = 600


@dataclass(frozen=True)
class Admin:
    """Where the admin steps run and how they call kubectl there."""

    master: Node
    steps: Steps
    kubectl: str
    kubeconfig: str

    def params(self) -> dict[str, pulumi.Input[str]]:
        return {"KUBECTL": self.kubectl, "ADMIN_KUBECONFIG": self.kubeconfig}

    def members(
        self,
        name: str,
        workers: Sequence[tuple[Node, remote.Command]],
        parent: pulumi.Resource,
        after: Sequence[pulumi.Resource] = (),
    ) -> list[remote.Command]:
        """Each worker's membership: it depends on the worker's step, so when the worker
        leaves, its drain runs (this step's delete) before the worker's uninstall."""
        return [
            self.steps.step(
                f"{name}-member-{node.name}",
                self.master,
                MEMBER,
                parent=parent,
                params={
                    "NODE_NAME": node.name,
                    "WAIT_SECONDS": str(_MEMBER_WAIT_SECONDS),
                    **self.params(),
                },
                depends_on=[step, *after],
            )
            for node, step in workers
        ]

    def upgrade_drain(
        self,
        name: str,
        worker: Node,
        version: str,
        parent: pulumi.Resource,
        after: Sequence[pulumi.Resource],
    ) -> remote.Command:
        """The worker's drain before its step upgrades its kubelet to `version` (nothing on any
        other change); the worker's member step uncordons it after."""
        return self.steps.step(
            f"{name}-drain-{worker.name}",
            self.master,
            UPGRADE_DRAIN,
            parent=parent,
            params={"NODE_NAME": worker.name, "VERSION": version, **self.params()},
            changes_node=False,
            depends_on=after,
        )

    def kubeconfig_step(
        self,
        name: str,
        api_host: str,
        api_port: int,
        parent: pulumi.Resource,
        after: Sequence[pulumi.Resource],
    ) -> pulumi.Output[str]:
        fetch = self.steps.step(
            f"{name}-kubeconfig",
            self.master,
            KUBECONFIG,
            parent=parent,
            params={
                "API_ADDRESS": api_host,
                "API_PORT": str(api_port),
                "ACCOUNT": PULUMI_ACCOUNT,
                "RENEWAL": renewal_period(datetime.now(UTC).date()),
                **self.params(),
            },
            secret_stdout=True,
            changes_node=False,
            depends_on=after,
        )
        return pulumi.Output.secret(fetch.stdout)
