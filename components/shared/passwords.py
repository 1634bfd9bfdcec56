"""Generated passwords: created once, kept in the state, always handled as secrets."""

from __future__ import annotations

import pulumi
import pulumi_random as random

_DEFAULT_LENGTH = 32


def _random_password(name: str, parent: pulumi.Resource, length: int) -> random.RandomPassword:
    # Letters and digits only: the values end up in shell stdin, SQL and config files unquoted.
    return random.RandomPassword(
        name, length=length, special=False, opts=pulumi.ResourceOptions(parent=parent)
    )


def generated_password(
    name: str, parent: pulumi.Resource, length: int = _DEFAULT_LENGTH
) -> pulumi.Output[str]:
    return pulumi.Output.secret(_random_password(name, parent, length).result)


def generated_login(
    name: str, parent: pulumi.Resource, length: int = _DEFAULT_LENGTH
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """A password and its bcrypt hash (computed once, kept in the state) for htpasswd files."""
    password = _random_password(name, parent, length)
    return pulumi.Output.secret(password.result), pulumi.Output.secret(password.bcrypt_hash)
