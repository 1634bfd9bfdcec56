"""The local clock reading that the clock check pairs with one node's facts.

The node's epoch is in its facts; the local one is read by a local command right after them. The
pair is only worth comparing when both were read in the same `up`, so the reading is taken again
exactly when the facts are: when their digest, in the command, changes. An update for any other
reason (only the command's text changed, as between releases) keeps the reading it had: a new one
would compare today's clock with facts read in an earlier `up`, hours or months ago.
"""

from __future__ import annotations

import hashlib

from .checks import CLOCK_SKEW_LIMIT_SECONDS, parse_facts


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def clock_commands(facts: str) -> tuple[str, str]:
    """(create, update) of the local reading for a node whose facts are `facts`.

    Both print the local epoch on stdout and the facts' digest on stderr; an update finds the
    previous run's in PULUMI_COMMAND_STDOUT/STDERR. Readings from before the digest was kept
    beside them (stderr empty) count as paired when they lie within the skew limit of the
    facts' own time, as a reading taken right after them does.
    """
    mark = f"facts {_digest(facts)}"
    node_epoch = parse_facts(facts).number("epoch")
    create = f": {mark}; date +%s; echo '{mark}' >&2"
    update = (
        f": {mark}; prev=$(echo ${{PULUMI_COMMAND_STDOUT:-}});"
        " seen=$(echo ${PULUMI_COMMAND_STDERR:-});"
        ' case "$prev" in ""|*[!0-9]*) prev="";; esac;'
        f' if [ -n "$prev" ] && {{ [ "$seen" = "{mark}" ] || {{ [ -z "$seen" ]'
        f" && [ $(( prev > {node_epoch} ? prev - {node_epoch} : {node_epoch} - prev ))"
        f" -le {CLOCK_SKEW_LIMIT_SECONDS} ]; }}; }};"
        f" then echo \"$prev\"; else date +%s; fi; echo '{mark}' >&2"
    )
    return create, update
