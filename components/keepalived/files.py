"""keepalived's files on a node, as text: the main config, one file per VRRP instance, its check.

Pure functions: `vip.py` passes their text to the node step, which validates it
with `keepalived -t` before swapping it in. The VRRP password never appears here: the instance
file carries `AUTH_PLACEHOLDER`, which the node step replaces with the password it reads on stdin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

MAIN_PATH = "/etc/keepalived/keepalived.conf"
CONFIG_DIR = "/etc/keepalived/rainbond-ha"
STATE_DIR = "/var/lib/rainbond-ha/keepalived"
# The main config's first line: a file without it is someone else's and is never overwritten.
MANAGED_MARK = "# Written by rainbond-ha."
AUTH_PLACEHOLDER = "@VRRP_AUTH_PASS@"
# Ends a unicast_peer line the node step keeps for a node that left the group (scripts/vip.sh).
LEFT_MARK = "# left the group"
RKE2_TLS_DIR = "/var/lib/rancher/rke2/server/tls"

# Failover timing: adverts every second; a check runs every second and two failures in a row
# put the instance in FAULT, so the peer holds the VIP about 3 s after the gateway stops (a
# service that hangs rather than stops takes longer: Instance.failover_bound_seconds).
_ADVERT_SECONDS = 1
_CHECK_INTERVAL_SECONDS = 1
_CHECK_FALL = 2
_CHECK_RISE = 2
_CONNECT_TIMEOUT_SECONDS = 1
# /readyz answers within milliseconds on a healthy server; two seconds leave room for a busy one.
_READYZ_TIMEOUT_SECONDS = 2

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


@dataclass(frozen=True)
class Instance:
    """One node's view of a VRRP instance."""

    name: str
    interface: str
    router_id: int
    priority: int
    vip: IPv4Interface
    source: IPv4Address
    peers: tuple[IPv4Address, ...]
    # TCP ports on 127.0.0.1 that the local service must accept; empty: no port check.
    check_ports: tuple[int, ...] = ()
    # A port on 127.0.0.1 whose HTTPS /readyz must answer "ok" (the Kubernetes API); at most one
    # kind of check per instance.
    check_readyz: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not _NAME.match(self.name):
            problems.append(f"instance name {self.name!r} is not a short lower-case name")
        if not _INTERFACE.match(self.interface):
            problems.append(f"interface {self.interface!r} is not an interface name")
        if not 1 <= self.router_id <= 255:
            problems.append(f"virtual router id {self.router_id} is outside 1-255")
        # 255 means "owns the address" in VRRP; a tracked instance must stay below it.
        if not 1 <= self.priority <= 254:
            problems.append(f"priority {self.priority} is outside 1-254")
        if not self.peers or self.source in self.peers:
            problems.append("the peers must be the other nodes' addresses, at least one")
        if any(not 1 <= port <= 65535 for port in self.check_ports):
            problems.append(f"check ports {self.check_ports} must be 1-65535")
        if self.check_readyz is not None and not 1 <= self.check_readyz <= 65535:
            problems.append(f"the /readyz port {self.check_readyz} must be 1-65535")
        if self.check_readyz is not None and self.check_ports:
            problems.append("an instance checks either TCP ports or /readyz, not both")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def checked(self) -> bool:
        return bool(self.check_ports) or self.check_readyz is not None

    @property
    def check_seconds(self) -> int:
        """How long one check may wait for the service before it counts as failed."""
        if self.check_ports:
            return _CONNECT_TIMEOUT_SECONDS * len(self.check_ports)
        return _READYZ_TIMEOUT_SECONDS

    @property
    def check_timeout(self) -> int:
        # keepalived's own limit, past the waits inside the check.
        return self.check_seconds + 1

    @property
    def failover_bound_seconds(self) -> int:
        """The longest the VIP stays on a node whose service hangs (accepts connections, never
        answers): `fall` failed checks in a row, each starting up to an interval late and waiting
        its full time, then the peer's takeover (VRRP's skew, under one advert interval)."""
        return _CHECK_FALL * (_CHECK_INTERVAL_SECONDS + self.check_seconds) + _ADVERT_SECONDS

    @property
    def path(self) -> str:
        return f"{CONFIG_DIR}/{self.name}.conf"

    @property
    def check_path(self) -> str:
        return f"{CONFIG_DIR}/{self.name}-check.sh"

    @property
    def armed_path(self) -> str:
        return f"{STATE_DIR}/{self.name}.armed"


def main_config(include_dir: str = CONFIG_DIR) -> str:
    """/etc/keepalived/keepalived.conf, shared by every instance on the node."""
    return f"""\
{MANAGED_MARK}
# keepalived's VRRP instances are the files included below. Each deployment rewrites this file;
# `pulumi destroy` removes it.
global_defs {{
    # Checks run as root, and only from files no other user can change.
    enable_script_security
    script_user root
}}
include {include_dir}/*.conf
"""


def instance_config(instance: Instance) -> str:
    """The instance's file (0600 on the node once the password replaces AUTH_PLACEHOLDER)."""
    peers = _lines(str(peer) for peer in instance.peers)
    check, track = "", ""
    if instance.checked:
        script = f"{instance.name}-check"
        # weight 0: a failed check puts the instance in FAULT, which gives the VIP away. A
        # negative weight would only lower the priority, and under nopreempt no peer takes the
        # VIP from a master of lower priority: it would stay on the failed node.
        check = f"""\
vrrp_script {script} {{
    script "{instance.check_path}"
    interval {_CHECK_INTERVAL_SECONDS}
    timeout {instance.check_timeout}
    fall {_CHECK_FALL}
    rise {_CHECK_RISE}
    weight 0
}}

"""
        track = f"""\
    track_script {{
        {script}
    }}
"""
    return f"""\
# keepalived instance {instance.name}, written by rainbond-ha. Mode 0600: it holds the password.
{check}vrrp_instance {instance.name} {{
    # Every node starts BACKUP and nopreempt: the VIP stays on its holder until that node fails,
    # and a recovered node does not take it back.
    state BACKUP
    nopreempt
    interface {instance.interface}
    virtual_router_id {instance.router_id}
    priority {instance.priority}
    advert_int {_ADVERT_SECONDS}
    # Adverts go to the peers by unicast; no peer means FAULT, not multicast. A node leaving the
    # group runs this instance until its own delete, after the other nodes' steps: they keep it
    # among their peers (the node step adds it back, marked), so it hears them and they hear it
    # throughout, and neither side takes the VIP from the other. The password keeps out other
    # VRRP speakers with this router id.
    unicast_src_ip {instance.source}
    unicast_peer {{
{peers}    }}
    unicast_fault_no_peer
    authentication {{
        auth_type PASS
        auth_pass {AUTH_PLACEHOLDER}
    }}
    virtual_ipaddress {{
        {instance.vip} dev {instance.interface}
    }}
{track}}}
"""


def check_script(instance: Instance) -> str:
    """The instance's health check: the local service must accept TCP on every check port.

    Until that has happened once on this node the check passes, so the VIP exists before the
    service runs (Rainbond's gateway is installed after the VIP). From the first success on, the
    check is armed: a failure puts the node's instance in FAULT and the VIP moves to a peer.
    """
    if instance.check_readyz is not None:
        return readyz_check_script(instance, instance.check_readyz)
    if not instance.check_ports:
        raise ValueError(f"instance {instance.name} has no check ports")
    ports = " ".join(str(port) for port in instance.check_ports)
    return f"""\
#!/bin/bash
# Health check for keepalived instance {instance.name}, written by rainbond-ha.
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
armed={instance.armed_path}
answers() {{
    timeout {_CONNECT_TIMEOUT_SECONDS} bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}}
for port in {ports}; do
    if ! answers "$port"; then
        # Not armed yet: the service has never run here, so this node may still hold the VIP.
        [ -e "$armed" ] && exit 1
        exit 0
    fi
done
if [ ! -e "$armed" ]; then
    touch "$armed"
    logger -t keepalived-check "{instance.name}: ports {ports} answer; the check is armed"
fi
exit 0
"""


def readyz_check_script(instance: Instance, port: int) -> str:
    """The API instance's health check: the local kube-apiserver's /readyz answers "ok".

    Armed like the gateway's check (check_script): it passes until /readyz has answered once on
    this node, so the VIP exists before RKE2 does (servers register through it). RKE2's API
    refuses anonymous requests, so the check presents the admin client certificate RKE2 keeps
    on every server (server/tls/client-admin.crt, docs.rke2.io security/certificates). The
    server certificate is not verified: the connection never leaves the node (127.0.0.1).
    """
    return f"""\
#!/bin/bash
# Health check for keepalived instance {instance.name}, written by rainbond-ha.
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
armed={instance.armed_path}
tls={RKE2_TLS_DIR}
auth=()
if [ -r "$tls/client-admin.crt" ] && [ -r "$tls/client-admin.key" ]; then
    auth=(--cert "$tls/client-admin.crt" --key "$tls/client-admin.key")
fi
url=https://127.0.0.1:{port}/readyz
answer=$(curl -sk --max-time {_READYZ_TIMEOUT_SECONDS} "${{auth[@]}}" "$url" 2>/dev/null)
if [ "$answer" != ok ]; then
    # Not armed yet: the API has never answered here, so this node may still hold the VIP.
    [ -e "$armed" ] && exit 1
    exit 0
fi
if [ ! -e "$armed" ]; then
    touch "$armed"
    logger -t keepalived-check "{instance.name}: /readyz on {port} answers; the check is armed"
fi
exit 0
"""


def _lines(items: Iterable[str]) -> str:
    return "".join(f"        {item}\n" for item in items)
