"""`pulumi up` of a stack from nothing, and a no-op `pulumi up` right after.

Each resource's duration runs from its pre event to its outputs event, both stamped when the
engine's event stream delivers them (the events' own timestamps have whole seconds only). The
dependencies come from the state: a resource waits for every resource in `dependencies` and for
its provider. The longest dependency chain is what the engine could not have run in parallel;
wall time above it is the engine's and the program's own time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pulumi import automation as auto

from tests.e2e.engine import exported_state

REMOTE_STEP = "command:remote:Command"
# Shorter steps on the chain (local bookkeeping) are left out of its listing.
CHAIN_SHOWN_SECONDS = 0.05


@dataclass
class Timeline:
    """Receives the engine's events: when each resource started and finished, and its operation."""

    started: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    ops: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    def __call__(self, event: auto.EngineEvent) -> None:
        now = time.monotonic()
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.started.setdefault(meta.urn, now)
            self.ops[meta.urn] = meta.op.value
            self.types[meta.urn] = meta.type
        elif event.res_outputs_event is not None:
            self.finished[event.res_outputs_event.metadata.urn] = now

    def durations(self) -> dict[str, float]:
        """Seconds per resource; a component's span is its children's, so it counts as zero."""
        return {
            urn: end - self.started[urn] if _is_custom(self.types[urn]) else 0.0
            for urn, end in self.finished.items()
            if urn in self.started
        }


def _is_custom(type_: str) -> bool:
    return not type_.startswith(("rainbond-ha:", "pulumi:pulumi:Stack"))


def waits_for(resources: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """URN -> the URNs it waits for: its dependencies and its provider."""
    graph: dict[str, list[str]] = {}
    for resource in resources:
        before = list(resource.get("dependencies", []))
        if resource.get("provider"):
            before.append(resource["provider"].rsplit("::", 1)[0])
        graph[resource["urn"]] = before
    return graph


def longest_chain(
    durations: Mapping[str, float], graph: Mapping[str, Sequence[str]]
) -> tuple[float, list[str]]:
    """The heaviest dependency path: its summed durations and its URNs, first to last."""

    @cache
    def heaviest(urn: str) -> tuple[float, tuple[str, ...]]:
        before = [heaviest(dep) for dep in graph.get(urn, ())]
        total, path = max(before, default=(0.0, ()))
        return total + durations.get(urn, 0.0), (*path, urn)

    total, path = max((heaviest(urn) for urn in graph), default=(0.0, ()))
    return total, list(path)


def short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def first_up(stack: auto.Stack) -> dict[str, Any]:
    """Wall time, longest chain (with its resources) and serial sum of a first `pulumi up`."""
    timeline = Timeline()
    started = time.monotonic()
    stack.up(on_event=timeline, color="never")
    wall = time.monotonic() - started
    durations = timeline.durations()

    def named(urns: Iterable[str]) -> list[dict[str, Any]]:
        return [{"name": short(urn), "seconds": round(durations.get(urn, 0.0), 2)} for urn in urns]

    state = json.loads(exported_state(stack))["deployment"]["resources"]
    chain, path = longest_chain(durations, waits_for(state))
    return {
        "wall": wall,
        "chain": chain,
        "chain_resources": named(
            urn for urn in path if durations.get(urn, 0.0) >= CHAIN_SHOWN_SECONDS
        ),
        "serial": sum(durations.values()),
        "resources": len(durations),
        "slowest": named(sorted(durations, key=lambda urn: -durations[urn])[:5]),
    }


def noop_up(stack: auto.Stack) -> dict[str, Any]:
    """Wall time of an up with nothing changed, and how many resources (remote steps) it ran."""
    timeline = Timeline()
    started = time.monotonic()
    stack.up(on_event=timeline, color="never")
    wall = time.monotonic() - started
    changed = [urn for urn, op in timeline.ops.items() if op != "same"]
    return {
        "wall": wall,
        "changed": [short(urn) for urn in changed],
        "remote_steps": sum(timeline.types[urn] == REMOTE_STEP for urn in changed),
    }
