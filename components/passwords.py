"""Generated passwords: created once, kept in the state, always handled as secrets."""

from __future__ import annotations

import pulumi
import pulumi_random as random

_DEFAULT_LENGTH = 32


def generated_password(
    name: str, parent: pulumi.Resource, length: int = _DEFAULT_LENGTH
) -> pulumi.Output[str]:
    # Letters and digits only: the values end up in shell stdin, SQL and config files unquoted.
    password = random.RandomPassword(
        name, length=length, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )
    return pulumi.Output.secret(password.result)
