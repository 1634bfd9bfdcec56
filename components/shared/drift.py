"""Drift on nodes made visible to a refresh: a probe per step that owns files or services.

pulumi-command has no read, so a refresh keeps a step's recorded state whatever happened on the
node. A step that declares what it owns records a manifest on the node when its script succeeds
(components/shared/scripts/drift/record.sh). Its probe, a dynamic resource, checks that manifest on
refresh (probe.sh) and counts the refreshes that found drift in `repairs`; the step's command
carries that count, so a refresh that found drift turns into an in-place update of the step,
which re-runs its idempotent script. docs/drift.md says why it works this way.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi import dynamic

from .dynamic import pickler_restored

MANIFESTS = "/var/lib/rainbond-ha/manifests"


@dataclass(frozen=True)
class Owned:
    """Files a step writes and services it keeps running; a refresh reports either drifting."""

    files: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


class DriftProbe(dynamic.Resource, module="drift", name="Probe"):
    """Checks a step's manifest on a refresh; nothing else touches the node.

    `probe` is a local shell command that reads the SSH key on stdin and prints one line per
    drifted file or service. Only a change of what it is given is an update, and an update only
    records the new inputs, so previews and ups without --refresh never contact a node.
    """

    # How many refreshes found drift; `lastDrift` in the state says what the last one found.
    repairs: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        node: str,
        step: str,
        probe: pulumi.Input[str],
        private_key: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "node": node,
            "step": step,
            "probe": probe,
            "privateKey": pulumi.Output.secret(private_key),
            "repairs": None,
            "lastDrift": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["privateKey"])
        with pickler_restored():
            super().__init__(_provider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


def _provider() -> dynamic.ResourceProvider:
    """The probe's provider.

    The class is made inside a function so that dill pickles it by value into the state: the
    provider process (pulumi-resource-pulumi-python) has the Pulumi SDK but not this project on
    its path, so the class may use nothing but the standard library and the SDK.
    """

    class Provider(dynamic.ResourceProvider):
        INPUTS = ("node", "step", "probe", "privateKey")
        # An SSH connection plus a few checksums: a minute is plenty, and a hung node fails.
        TIMEOUT_SECONDS = 60

        def given(self, props: dict[str, Any]) -> dict[str, Any]:
            return {key: props.get(key) for key in self.INPUTS}

        def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
            outs = {**self.given(props), "repairs": 0, "lastDrift": ""}
            return dynamic.CreateResult(f"{props['node']}/{props['step']}", outs)

        def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
            changed = [key for key in self.INPUTS if olds.get(key) != news.get(key)]
            return dynamic.DiffResult(changes=bool(changed), replaces=[])

        def update(
            self, _id: str, olds: dict[str, Any], news: dict[str, Any]
        ) -> dynamic.UpdateResult:
            kept = {"repairs": olds.get("repairs", 0), "lastDrift": olds.get("lastDrift", "")}
            return dynamic.UpdateResult({**self.given(news), **kept})

        def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
            node = props.get("node")
            try:
                result = subprocess.run(
                    ["bash", "-c", props["probe"]],
                    input=props["privateKey"],
                    capture_output=True,
                    text=True,
                    timeout=self.TIMEOUT_SECONDS,
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"drift probe: {node} did not answer within {self.TIMEOUT_SECONDS} s"
                ) from None
            if result.returncode != 0:
                raise RuntimeError(
                    f"drift probe: cannot check {node} (exit {result.returncode}): "
                    f"{result.stderr.strip()}"
                )
            found = "; ".join(line.strip() for line in result.stdout.splitlines() if line.strip())
            repairs = int(props.get("repairs") or 0) + (1 if found else 0)
            # A clean node keeps the last finding, so a refresh after the repair changes nothing.
            drift = found or props.get("lastDrift", "")
            outs = {**self.given(props), "repairs": repairs, "lastDrift": drift}
            return dynamic.ReadResult(id_, outs)

    return Provider()
