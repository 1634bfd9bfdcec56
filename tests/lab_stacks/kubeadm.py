"""The kubeadm platform on the lab nodes as test_kubeadm.py and the benchmarks use it: the stack
(Pulumi.lab.yaml's Kubernetes, kubeadm on the three nodes behind the API VIP), kubectl through
the VIP, etcd's members, and the API's /readyz through the VIP."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from components.keepalived.files import Instance
from components.kubernetes.installed import API_PORT
from lab.kube import control_plane
from lab.labctl import WORK, node_address, require_lab_up, ssh_argv
from tests.lab_stacks.audit import node_items
from tests.lab_stacks.harness import component_stack, lab_kubernetes, lab_stack_file

NODES = ("node1", "node2", "node3")
API_VIP = lab_kubernetes()["apiAddress"].split("/")[0]
KUBECTL = control_plane.artifacts_path(WORK) / "bin" / "kubectl"
READYZ_TIMEOUT_SECONDS = 1
# The API must answer through the VIP again within this after its holder goes: the longest the
# rendered keepalived files let the VIP stay on a hung API, plus one request's own timeout (a
# clean power-off usually takes about a second: bench/ measures the spread).
API_INSTANCE = Instance(
    name="rainbond-api",
    interface="host0",
    router_id=52,
    priority=100,
    vip=IPv4Interface(lab_kubernetes()["apiAddress"]),
    source=IPv4Address(node_address(NODES[0])),
    peers=tuple(IPv4Address(node_address(node)) for node in NODES[1:]),
    check_readyz=API_PORT,
)
FAILOVER_BUDGET_SECONDS = API_INSTANCE.failover_bound_seconds + READYZ_TIMEOUT_SECONDS


def on(node: str, command: str) -> str:
    result = subprocess.run(ssh_argv(node, command), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{node}: {command!r}: {result.stdout}{result.stderr}"
    return result.stdout


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(2)
    return time.monotonic() - started


@dataclass
class Cluster:
    stack: auto.Stack
    outputs: MutableMapping[str, auto.OutputValue]
    kubeconfig: Path
    before: dict[str, dict[str, str]]
    up_seconds: float

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), "--request-timeout=10s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout if result.returncode == 0 else ""

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def ready_nodes(self) -> set[str]:
        nodes = self.json("get", "nodes")["items"]
        return {
            n["metadata"]["name"]
            for n in nodes
            for c in n["status"]["conditions"]
            if c["type"] == "Ready" and c["status"] == "True"
        }

    def running_pods(self, *selector: str) -> dict[str, str]:
        """Pod name -> node, for the Running and ready pods matching `selector`."""
        pods = self.json("get", "pods", *selector)["items"]
        return {
            p["metadata"]["name"]: p["spec"].get("nodeName", "")
            for p in pods
            if p["status"].get("phase") == "Running"
            and all(s.get("ready") for s in p["status"].get("containerStatuses", []))
            and not p["metadata"].get("deletionTimestamp")
        }


@contextmanager
def kubeadm_platform(name: str, where: Path) -> Iterator[Cluster]:
    """The whole platform with kubeadm's Kubernetes, deployed from nothing and destroyed after."""
    require_lab_up()
    before = {node: node_items(node) for node in NODES}
    config = lab_stack_file()["config"]
    stack = component_stack(
        name,
        where,
        ["platform"],
        overrides={
            "kubernetes": lab_kubernetes(),
            "rainbond": config["rainbond-ha:rainbond"],
        },
    )
    try:
        started = time.monotonic()
        up = stack.up(color="never", on_output=print)
        print(f"kubeadm platform: up in {time.monotonic() - started:.0f} s")
        kubeconfig = where / "kubeconfig"
        kubeconfig.touch(mode=0o600)
        kubeconfig.write_text(up.outputs["kubeconfig"].value)
        yield Cluster(stack, up.outputs, kubeconfig, before, time.monotonic() - started)
    finally:
        stack.destroy(color="never", on_output=print)


def etcd_members(node: str) -> list[dict[str, Any]]:
    pki = "/etc/kubernetes/pki/etcd"
    client = f"{pki}/healthcheck-client"
    tls = f"--cacert {pki}/ca.crt --cert {client}.crt --key {client}.key"
    listed = json.loads(
        on(node, f"curl -sf {tls} -X POST -d '{{}}' https://127.0.0.1:2379/v3/cluster/member/list")
    )
    members: list[dict[str, Any]] = listed["members"]
    for member in members:
        (url,) = member["clientURLs"]
        member["health"] = json.loads(on(node, f"curl -sf {tls} {url}/health"))["health"]
    return members


def readyz(_: int) -> str:
    """The API's /readyz through the VIP (as every client of the cluster reaches it)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://{API_VIP}:6443/readyz"
    with urllib.request.urlopen(url, timeout=READYZ_TIMEOUT_SECONDS, context=context) as response:
        answer = response.read().decode()
    if answer != "ok":
        raise AssertionError(answer)
    return answer


def answers_readyz() -> bool:
    try:
        readyz(0)
    except (OSError, AssertionError):
        return False
    return True


def vip_holder(nodes: Iterable[str]) -> str:
    for node in nodes:
        if f" {API_VIP}/" in on(node, "ip -4 -o addr show dev host0"):
            return node
    raise AssertionError(f"no node holds {API_VIP}")
