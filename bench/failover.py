"""Gateway VIP failover on the lab's keepalived pair, as a user sees it, over repeated trials.

Each trial stops the stand-in gateway on the VIP's holder (as the gateway e2e test does), and
measures until the VIP answers ping from the host while held by the other node: from the moment
keepalived declared the holder's check failed (its journal line, on the clock the nodes share with
the host) and from the gateway's stop. Then the stopped gateway starts again, and the next trial
waits until that node's check passes and it is back to BACKUP, so every trial starts from one
stable holder. Under nopreempt the VIP stays where it went, so trials alternate direction.
"""

from __future__ import annotations

import re
import statistics
import time
from functools import partial
from typing import Any

from tests.lab_stacks.gateway import (
    INSTANCE,
    NODES,
    VIP,
    armed_on,
    gateway,
    holders,
    on,
    ping,
    wait_for,
)

TRIALS = 20
POLL_SECONDS = 0.05
# From the gateway stop: 2 failed checks 1 s apart, then the peer's takeover.
MOVE_TIMEOUT = 15
SETTLE_TIMEOUT = 20
_FAILED = re.compile(rf"^(\d+\.\d+) .*VRRP_Script\({re.escape(INSTANCE)}-check\) failed")
_BACKUP = re.compile(rf"^(\d+\.\d+) .*\({re.escape(INSTANCE)}\) Entering BACKUP STATE")


def _journal_times(node: str, since: float, pattern: re.Pattern[str]) -> list[float]:
    """Wall-clock times of keepalived's journal lines matching `pattern` since `since`."""
    out = on(node, f"journalctl -u keepalived -o short-unix --no-pager --since @{since:.6f}")
    return [float(m.group(1)) for line in out.splitlines() if (m := pattern.match(line))]


def _answers_on(node: str) -> bool:
    return holders() == [node] and ping(VIP, timeout=POLL_SECONDS * 4)


def trial() -> dict[str, float]:
    (holder,) = holders()
    (other,) = [node for node in NODES if node != holder]
    began = time.time()
    gateway(holder, running=False)
    stopped = time.time()
    deadline = time.monotonic() + MOVE_TIMEOUT
    while not _answers_on(other):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the VIP did not answer on {other} within {MOVE_TIMEOUT} s")
        time.sleep(POLL_SECONDS)
    answered = time.time()
    failed = _journal_times(holder, began, _FAILED)
    if not failed:
        raise RuntimeError(f"{holder}: no failed check in keepalived's journal")
    gateway(holder, running=True)
    restarted = time.time()
    wait_for(
        f"{holder} back to BACKUP",
        lambda: bool(_journal_times(holder, restarted, _BACKUP)),
        SETTLE_TIMEOUT,
    )
    return {"from_check": answered - failed[0], "from_stop": answered - stopped}


def measure(trials: int = TRIALS) -> dict[str, Any]:
    """Seconds per trial, both ways of counting, after arming both nodes' checks."""
    for node in NODES:
        gateway(node, running=True)
    try:
        for node in NODES:
            wait_for(f"{node} arms its check", partial(armed_on, node), SETTLE_TIMEOUT)
        results = [trial() for _ in range(trials)]
    finally:
        for node in NODES:
            gateway(node, running=False)
    figures: dict[str, Any] = {"trials": len(results)}
    for key in ("from_check", "from_stop"):
        values = [result[key] for result in results]
        figures[key] = {
            "min": min(values),
            "median": statistics.median(values),
            "max": max(values),
        }
    return figures
