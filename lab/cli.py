"""`lab/lab`: the command line of the local lab (see docs/lab.md)."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from . import stack
from .access import lab_up_reason, ssh_argv
from .base import BRIDGE, LabError, LabNotUp, step
from .commands import DEFAULT_NODES, boot_node, cmd_down, cmd_status, cmd_up, halt_node
from .subnet import HOST_ADDR, PREFIX_LEN, node_index


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lab", description="The rainbond-ha local lab (run as root).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="create or repair the lab (idempotent)")
    up.add_argument(
        "--nodes",
        type=int,
        default=int(os.environ.get("LAB_NODES", DEFAULT_NODES)),
        help=f"number of nodes (default: $LAB_NODES or {DEFAULT_NODES})",
    )
    up.add_argument(
        "--bake",
        default=os.environ.get("LAB_BAKE_PACKAGES", ""),
        help="extra Debian packages to bake into the image, comma or space separated "
        "(default: $LAB_BAKE_PACKAGES; none, so deploy scripts install them)",
    )
    kubernetes = up.add_mutually_exclusive_group()
    kubernetes.add_argument(
        "--without-kubernetes",
        action="store_const",
        dest="kubernetes",
        const="later",
        help="leave the lab's Kubernetes as it is: neither built nor started, so the nodes are up "
        "while it builds elsewhere (the default when $LAB_KUBERNETES is 'later')",
    )
    kubernetes.add_argument(
        "--host-kubernetes",
        action="store_const",
        dest="kubernetes",
        const="host",
        help="start the lab's Kubernetes API once its own binaries are built, without the kubeadm "
        "artifacts, which may still build elsewhere (the default when $LAB_KUBERNETES is 'host')",
    )
    up.set_defaults(kubernetes=os.environ.get("LAB_KUBERNETES") or "full")
    sub.add_parser("down", help="remove nodes, namespaces, bridge and proxy (idempotent)")
    sub.add_parser("status", help="show what exists")
    for command, what in (("stop-node", "power one node off"), ("start-node", "start it again")):
        sub.add_parser(command, help=what).add_argument("name", help="e.g. node3")
    chk = sub.add_parser("check", help='exit 1 with "lab is not up" unless the lab bridge exists')
    chk.add_argument("-q", "--quiet", action="store_true")
    ssh = sub.add_parser("ssh", help="run a command on a node (what lab/ssh does)")
    ssh.add_argument("name", help="e.g. node1")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    lab_stack = sub.add_parser(
        "stack", help="the lab stack against this lab (needs pulumi on PATH and its passphrase)"
    )
    lab_stack.add_argument(
        "action",
        choices=("sync", "clear"),
        help="sync: forget a lab stack deployed to an earlier lab; "
        "clear: sync, then destroy the lab stack if it is deployed",
    )
    return ap


def _check(quiet: bool) -> int:
    reason = lab_up_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    if not quiet:
        print(f"lab is up: {BRIDGE} {HOST_ADDR}/{PREFIX_LEN}")
    return 0


def _ssh(name: str, command: Sequence[str]) -> int:
    try:
        node_index(name)
    except ValueError as e:
        print(f"lab/ssh: {e}", file=sys.stderr)
        return 2
    # Never send a packet to a lab address unless the lab bridge exists (it would leave via the
    # default route).
    if _check(quiet=True):
        return 1
    argv = ssh_argv(name, *command)
    # An interactive login gets a terminal; a command runs without one, so its output is clean.
    argv.insert(1, "-t" if not command and sys.stdin.isatty() else "-T")
    os.execvp(argv[0], argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "check":
            return _check(args.quiet)
        if args.cmd == "ssh":
            return _ssh(args.name, args.command)
        if args.cmd == "status":
            return cmd_status()
        if args.cmd == "stack":
            return stack.sync() if args.action == "sync" else stack.clear()
        if args.cmd == "up":
            cmd_up(
                args.nodes,
                [p for p in re.split(r"[,\s]+", args.bake) if p],
                kubernetes=args.kubernetes,
            )
        elif args.cmd == "down":
            cmd_down()
        elif args.cmd == "stop-node":
            halt_node(args.name)
        elif args.cmd == "start-node":
            boot_node(args.name)
        return 0
    except (LabError, LabNotUp) as e:
        step(f"FAILED: {e}")
        return 1
    except KeyboardInterrupt:
        step("interrupted; run `lab/lab up` again to repair or `lab/lab down` to clean up")
        return 130
