"""A program a systemd timer runs on a node (backups, snapshots): its service and timer units."""

from __future__ import annotations


def _unit_file(comment: str, sections: dict[str, list[str]]) -> str:
    lines = [f"# Written by rainbond-ha: {comment}"]
    for section, entries in sections.items():
        lines += [f"[{section}]", *entries, ""]
    return "\n".join(lines)


def oneshot_service(*, comment: str, description: str, command: str, after: str) -> str:
    """The unit a timer starts: one run of `command`, at low priority."""
    return _unit_file(
        comment,
        {
            "Unit": [f"Description={description}", f"After={after}"],
            "Service": [
                "Type=oneshot",
                f"ExecStart={command}",
                "Nice=10",
                "IOSchedulingClass=idle",
            ],
        },
    )


def calendar_timer(*, comment: str, description: str, schedule: str) -> str:
    return _unit_file(
        comment,
        {
            "Unit": [f"Description={description}"],
            # A run missed while the node was down happens at its next boot.
            "Timer": [f"OnCalendar={schedule}", "Persistent=true"],
            "Install": ["WantedBy=timers.target"],
        },
    )
