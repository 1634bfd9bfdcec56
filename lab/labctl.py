"""The local lab's interface for tests and tools: import what you need from here.

    from lab.labctl import require_lab_up, node_address, ssh_argv   # repo root on sys.path

`require_lab_up()` must be called before anything contacts a lab address: without the bridge,
packets to the lab's subnet would follow the host's default route out of the machine.

The lab itself is split by concern (docs/lab.md, "Files"): subnet (the addresses), base (paths,
running commands, the lock), access (the guard, SSH), host, image, network, proxy, procs, nodes,
commands (up, down, status, one node off and on), stack (the lab stack against the lab), cli.
The command line is `lab/lab`.
"""

from __future__ import annotations

from .access import lab_up_reason, require_lab_up, ssh_argv
from .base import (
    BRIDGE,
    COMMAND,
    KNOWN_HOSTS,
    PROXY_PORT,
    SSH_KEY,
    WORK,
    LabError,
    LabNotUp,
    node_dir,
    node_names,
    node_root,
)
from .commands import boot_node, halt_node, leftovers
from .network import host_veth, netns_name
from .nodes import node_pid, stop_node
from .subnet import DEAD_END, HOST_ADDR, PREFIX_LEN, SUBNET, VIP, address, node_address, node_name

__all__ = [
    "BRIDGE",
    "COMMAND",
    "DEAD_END",
    "HOST_ADDR",
    "KNOWN_HOSTS",
    "PREFIX_LEN",
    "PROXY_PORT",
    "SSH_KEY",
    "SUBNET",
    "VIP",
    "WORK",
    "LabError",
    "LabNotUp",
    "address",
    "boot_node",
    "halt_node",
    "host_veth",
    "lab_up_reason",
    "leftovers",
    "netns_name",
    "node_address",
    "node_dir",
    "node_name",
    "node_names",
    "node_pid",
    "node_root",
    "require_lab_up",
    "ssh_argv",
    "stop_node",
]
