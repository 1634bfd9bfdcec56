"""OpenSSH known_hosts files: where a node's pinned host key comes from when it sets none itself.

Only what `ssh` itself reads is accepted: comma-separated host patterns (`*`, `?`, `!negation`,
`[host]:port` for other ports than 22) or hashed names (`ssh-keygen -H`), then the key type and
its base64. Lines marked `@cert-authority` or `@revoked` pin no single key and are skipped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_HASHED = "|1|"


@dataclass(frozen=True)
class Entry:
    hosts: tuple[str, ...]
    key: str  # "<type> <base64>", the form connection.hostKey takes

    def matches(self, name: str) -> bool:
        if self.hosts[0].startswith(_HASHED):
            return any(_hashed_match(pattern, name) for pattern in self.hosts)
        if any(_glob(p[1:], name) for p in self.hosts if p.startswith("!")):
            return False
        return any(_glob(p, name) for p in self.hosts if not p.startswith("!"))


def _glob(pattern: str, name: str) -> bool:
    # ssh's patterns know only `*` and `?`; `[host]:port` brackets are literal.
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), name, re.IGNORECASE) is not None


def _hashed_match(pattern: str, name: str) -> bool:
    salt, _, digest = pattern.removeprefix(_HASHED).partition("|")
    try:
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except binascii.Error:
        return False


def parse(text: str) -> list[Entry]:
    """The entries of a known_hosts file; ValueError names the first line that is not one."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("@"):
            continue
        if len(fields) < 3 or fields[1] not in _KEY_TYPES or not _key_data(fields[2]):
            raise ValueError(f"line {number} is not '<hosts> <key type> <base64 key>'")
        entries.append(Entry(tuple(fields[0].split(",")), f"{fields[1]} {fields[2]}"))
    return entries


def _key_data(text: str) -> bool:
    if not _BASE64.match(text):
        return False
    try:
        return len(base64.b64decode(text)) > 0
    except binascii.Error:
        return False


def host_name(name: str, port: int) -> str:
    """The name ssh looks a host up by in known_hosts: `[name]:port` for another port than 22."""
    return name if port == 22 else f"[{name}]:{port}"


def host_key(entries: Sequence[Entry], names: Sequence[str], port: int) -> str | None:
    """The key to pin for the first of `names` the entries know: ed25519, else ECDSA, else RSA.

    A client pins one key, so when a host has several the strongest kind is chosen.
    """
    for name in names:
        found = [entry.key for entry in entries if entry.matches(host_name(name, port))]
        if found:
            return min(found, key=lambda key: _KEY_TYPES.index(key.split()[0]))
    return None
