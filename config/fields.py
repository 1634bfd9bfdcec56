"""The types of single values in a stack: names, addresses, ports, paths, secrets, versions.

Each is strict (a YAML `true` is not a port, `''` is not a user) and says what it found and what
it wants in the `<wrong>; <right>` form the explainer passes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    SecretStr,
    StrictBool,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

from .excerpt import excerpt, found, kind

# Pinned versions: this is the one place they are set.
RKE2_VERSION = "v1.30.4+rke2r1"  # what Rainbond's own host installer uses
KUBEADM_VERSION = "v1.36.1"
FLANNEL_IMAGE = "ghcr.io/flannel-io/flannel:v0.28.10"
# What flannel v0.28.10's kube-flannel.yml installs its CNI plugin from.
FLANNEL_CNI_PLUGIN_IMAGE = "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"
CHART_REPOSITORY = "https://chart.rainbond.com"
CHART_VERSION = "6.9.3"
INSTALL_VERSION = "v6.9.3-release"
IMAGE_REPOSITORY = "registry.cn-hangzhou.aliyuncs.com/goodrain"

CHART_SCHEMES = ("https://", "oci://")
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_DNS1123_LABEL = re.compile(_LABEL)
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_HOSTNAME_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_HOSTNAME_LABEL}(\.{_HOSTNAME_LABEL})*\.?")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_HOST_KEY = re.compile(r"(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+")
# The kernel's limit for an interface name (IFNAMSIZ less the terminating NUL).
_IFNAMSIZ = 15

Text = Annotated[StrictStr, StringConstraints(min_length=1)]
Flag = StrictBool


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{found(value)}, not a string; write {what}")
    return value


def _whole(low: int, high: int | None, what: str) -> BeforeValidator:
    """A whole number in [low, high], not a boolean or a string: the message names the range."""
    allowed = f"{what} from {low} to {high}" if high is not None else f"{what} of {low} or more"

    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{found(value)}, not a whole number; use {allowed}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{value} is out of range; use {allowed}")
        return value

    return BeforeValidator(check)


def _range_schema(low: int, high: int | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "integer", "minimum": low}
    if high is not None:
        schema["maximum"] = high
    return WithJsonSchema(schema)


Port = Annotated[int, _whole(1, 65535, "a port number"), _range_schema(1, 65535)]
RouterId = Annotated[int, _whole(1, 255, "a VRRP router id"), _range_schema(1, 255)]
Replicas = Annotated[int, _whole(1, None, "a number of replicas"), _range_schema(1)]
Amount = Annotated[int, _whole(0, None, "a whole number"), _range_schema(0)]
Count = Annotated[int, _whole(1, None, "a count"), _range_schema(1)]

_NODE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_CALENDAR = re.compile(r"[A-Za-z0-9*,:/.~ -]+")


def _node_path(value: str) -> str:
    if not _NODE_PATH.fullmatch(value) or "/../" in f"{value}/" or value.rstrip("/") == "":
        raise ValueError(
            f"{excerpt(value)} is not an absolute path of a directory on the node; write one like"
            " /var/backups/rainbond-ha (letters, digits, '.', '_', '-' and '/', no '..')"
        )
    return value.rstrip("/")


def _calendar(value: str) -> str:
    if not _CALENDAR.fullmatch(value):
        raise ValueError(
            f"{excerpt(value)} is not a systemd calendar event; write one like"
            " '*-*-* 02:00:00' (daily at 02:00) or 'hourly' (man systemd.time)"
        )
    return value


NodePath = Annotated[Text, AfterValidator(_node_path)]
Calendar = Annotated[Text, AfterValidator(_calendar)]


def _name(pattern: re.Pattern[str], wrong: str, right: str) -> AfterValidator:
    """A name of at most 63 characters matching `pattern` (Kubernetes names and labels)."""

    def check(value: str) -> str:
        if len(value) > 63 or not pattern.fullmatch(value):
            raise ValueError(f"{excerpt(value)} {wrong}; {right}")
        return value

    return AfterValidator(check)


NodeName = Annotated[
    StrictStr,
    _name(
        _DNS1123_SUBDOMAIN,
        "is not a DNS-1123 name of at most 63 characters",
        "use the Kubernetes node name (= hostname): lower-case letters, digits, '-' and '.'",
    ),
]
Namespace = Annotated[
    StrictStr,
    _name(
        _DNS1123_LABEL,
        "is not a Kubernetes namespace name",
        "use at most 63 lower-case letters, digits and '-', starting and ending with a letter"
        " or digit (no dots)",
    ),
]


def _interface(value: str) -> str:
    if (
        not 0 < len(value) <= _IFNAMSIZ
        or value in (".", "..")
        or any(c.isspace() or c in "/:" for c in value)
    ):
        raise ValueError(
            f"{excerpt(value)} is not a network interface name; use the name `ip link` shows,"
            f" such as eth0: 1 to {_IFNAMSIZ} characters without spaces, '/' or ':'"
        )
    return value


Interface = Annotated[StrictStr, AfterValidator(_interface)]


def _parse_ipv4(text: str) -> IPv4Address | None:
    try:
        return IPv4Address(text)
    except ValueError:
        return None


def _usable(address: IPv4Address) -> bool:
    return not (
        address.is_unspecified or address.is_multicast or address.is_reserved
    ) and address != IPv4Address("255.255.255.255")


def _ipv4(value: Any) -> IPv4Address:
    text = _string(value, "an IPv4 address such as 192.0.2.10")
    address = _parse_ipv4(text)
    if address is None or not _usable(address):
        raise ValueError(
            f"{excerpt(text)} is not an IPv4 address of a host; use one such as 192.0.2.10"
        )
    return address


IPv4 = Annotated[IPv4Address, BeforeValidator(_ipv4)]


def vip_problem(text: str) -> str | None:
    """Why `text` cannot be a virtual IP with an optional prefix, or None when it can."""
    try:
        vip = IPv4Interface(text)
    except ValueError:
        return f"{excerpt(text)} is not an IPv4 address with an optional /prefix"
    if "/" in text and vip.network.prefixlen == 0:
        return f"{text} has the prefix /0, which holds every address"
    if not _usable(vip.ip):
        return f"{text} is not an address a host can hold"
    if vip.network.prefixlen < 31 and vip.ip in (
        vip.network.network_address,
        vip.network.broadcast_address,
    ):
        which = "network" if vip.ip == vip.network.network_address else "broadcast"
        return f"{text} is the {which} address of its subnet"
    return None


def _vip(value: Any) -> IPv4Interface:
    text = _string(value, "a free IPv4 address with its prefix, such as 192.0.2.10/24")
    problem = vip_problem(text)
    if problem:
        raise ValueError(
            f"{problem}; use a free host address with its prefix, such as 192.0.2.10/24"
        )
    return IPv4Interface(text)


Vip = Annotated[IPv4Interface, BeforeValidator(_vip)]


def _network(value: Any) -> IPv4Network:
    text = _string(value, "an IPv4 network such as 10.0.0.0/16")
    try:
        return IPv4Network(text)
    except ValueError:
        raise ValueError(
            f"{excerpt(text)} is not an IPv4 network; use one such as 10.0.0.0/16 (host bits zero)"
        ) from None


Network = Annotated[IPv4Network, BeforeValidator(_network)]


def host_problem(text: str) -> str | None:
    """Why `text` is neither an IPv4 address nor a DNS name, or None when it is one."""
    if "://" in text:
        return f"{excerpt(text)} is a URL, not a host"
    if "@" in text:
        return f"{excerpt(text)} holds a user name before '@', not only a host"
    if "/" in text:
        return f"{excerpt(text)} has a path or a prefix, not only a host"
    if _DOTTED_NUMBERS.fullmatch(text):
        address = _parse_ipv4(text)
        return None if address and _usable(address) else f"{excerpt(text)} is not an IPv4 address"
    if len(text) > 253 or not _HOSTNAME.fullmatch(text):
        return f"{excerpt(text)} is not an IPv4 address or a DNS name"
    return None


def _checker(problem: Callable[[str], str | None], right: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _string(value, right)
        wrong = problem(text)
        if wrong:
            raise ValueError(f"{wrong}; use {right}")
        return text

    return check


Host = Annotated[
    str,
    BeforeValidator(
        _checker(host_problem, "an IPv4 address or a DNS name, such as 192.0.2.10 or db.example")
    ),
]


def _domain_problem(text: str) -> str | None:
    if text.startswith("http://"):
        return f"{excerpt(text)} is a URL, not a host (plain HTTP is registry.insecure: true)"
    host, colon, port = (
        text.rpartition(":") if ":" in text and "://" not in text else (text, "", "")
    )
    if colon and not (
        port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
    ):
        return f"{excerpt(text)} has no valid port after ':'"
    return host_problem(host)


Domain = Annotated[
    str,
    BeforeValidator(
        _checker(_domain_problem, "a host with an optional :port, without scheme or path")
    ),
]


def _api_address_problem(text: str) -> str | None:
    if "/" in text and "://" not in text:
        return vip_problem(text)
    return host_problem(text)


ApiAddress = Annotated[
    str,
    BeforeValidator(
        _checker(
            _api_address_problem,
            "an IPv4 address with an optional /prefix, or a DNS name, without https:// or :port",
        )
    ),
]


def _host_key(value: str) -> str:
    if not _HOST_KEY.fullmatch(value):
        raise ValueError(
            "is not an OpenSSH public host key; use one line of `ssh-keyscan`, e.g."
            " 'ssh-ed25519 AAAA...', without the host name"
        )
    return value


HostKey = Annotated[StrictStr, AfterValidator(_host_key)]


def _secret(value: Any, info: ValidationInfo) -> Any:
    # A stack file holds secrets as `{secure: <ciphertext>}`; only the engine can decrypt them, so
    # `config check` accepts the mapping as "present" and never looks inside.
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SecretStr(str(value["secure"]))
    if isinstance(value, str) and info.context and info.context.get("stack_file"):
        raise ValueError(
            "is stored in plain text; encrypt it with `pulumi config set --secret --path`"
        )
    if not isinstance(value, str) or not value:
        # The value is never shown: it may be a secret written in the wrong place.
        what = "is empty" if value == "" else f"is {kind(value)}"
        raise ValueError(
            f"{what}, not a secret; set it with `pulumi config set --secret --path <key> <value>`"
        )
    return value


Secret = Annotated[
    SecretStr,
    BeforeValidator(_secret),
    WithJsonSchema(
        {
            "description": "A secret: `pulumi config set --secret --path <key> <value>`.",
            "type": "object",
            "properties": {"secure": {"type": "string"}},
            "required": ["secure"],
        }
    ),
]


def is_url(value: str) -> bool:
    return "://" in value


def _local_path(value: str, info: ValidationInfo) -> str:
    # Relative paths are relative to the project root (the folder of Pulumi.yaml), so a stack
    # behaves the same whatever the current directory is.
    if is_url(value):
        return value
    if "\0" in value:
        raise ValueError("holds a NUL character; write the path of a file")
    root = Path(info.context["root"]) if info.context and "root" in info.context else Path.cwd()
    try:
        return str((root / Path(value).expanduser()).resolve())
    except (RuntimeError, OSError):
        raise ValueError(
            f"{excerpt(value)} cannot be resolved as a path; write an absolute path, one relative"
            " to the project, or one starting with ~/"
        ) from None


LocalPath = Annotated[Text, AfterValidator(_local_path)]


def _version(pattern: str, example: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{excerpt(value)} is not a version; use one like {example}")
        return value

    return AfterValidator(check)


Rke2Version = Annotated[StrictStr, _version(r"v\d+\.\d+\.\d+\+rke2r\d+", RKE2_VERSION)]
KubeVersion = Annotated[StrictStr, _version(r"v\d+\.\d+\.\d+", KUBEADM_VERSION)]
ChartVersion = Annotated[StrictStr, _version(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", CHART_VERSION)]
InstallVersion = Annotated[
    StrictStr, _version(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", INSTALL_VERSION)
]
