"""A set but dead `SSH_AUTH_SOCK`, found before any step runs.

pulumi-command uses the SSH agent whenever `SSH_AUTH_SOCK` is set, even when the stack gives a
private key, and it dials the agent before the node: a socket nobody listens on (a closed
session's agent, a copied environment) fails every step on every node with
`dial unix ...: connect: ...`. The provider runs with the environment of the pulumi process that
runs this program, so the program sees the same variable.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import pulumi

VARIABLE = "SSH_AUTH_SOCK"


class DeadAgentError(pulumi.RunError):
    """`SSH_AUTH_SOCK` names a socket no SSH agent answers on."""


def problem(environ: Mapping[str, str] | None = None) -> str | None:
    """What is wrong with the environment's SSH agent socket, or None when nothing is."""
    path = (os.environ if environ is None else environ).get(VARIABLE, "")
    if not path:
        return None
    # Go (the provider) reads a leading "@" as Linux's abstract socket namespace.
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(address)
    except OSError as error:
        reason = error.strerror or str(error)
        return (
            f"{VARIABLE}={path} names no running SSH agent ({reason}), and pulumi-command uses "
            f"the agent whenever {VARIABLE} is set, so every step on the nodes would fail: "
            f'unset {VARIABLE}, or start an agent (eval "$(ssh-agent -s)") and run pulumi again'
        )
    return None


def check(environ: Mapping[str, str] | None = None) -> None:
    """Raises DeadAgentError when `SSH_AUTH_SOCK` is set but no agent answers on it."""
    message = problem(environ)
    if message is not None:
        raise DeadAgentError(message)
