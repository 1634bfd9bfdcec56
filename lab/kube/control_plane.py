"""The lab's Kubernetes API: etcd, kube-apiserver, controller-manager, scheduler and kwok.

Runs on the host (RKE2 and k3s cannot be obtained offline). The API listens on the lab bridge
address, so the host (where pulumi runs) and the nodes reach it; etcd stays on loopback. kwok makes
a fake Node for every lab node, under the lab node's name and address, and runs the pods scheduled
there: Deployments become ready and Jobs complete, though no container ever starts.

Started by `lab up`, stopped with its data removed by `lab down`. Self-contained (standard library
and the openssl CLI): the lab's other modules pass it what it needs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
API_PORT = 6443
ETCD_CLIENT = "127.0.0.1:23790"  # not etcd's usual ports: nothing else on the host is disturbed
ETCD_PEER = "127.0.0.1:23800"
SERVICE_RANGE = "10.96.0.0/16"  # virtual: no traffic is ever sent to it
NODE_LEASE_SECONDS = 40
# What each fake node offers the scheduler.
NODE_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "200Gi"}
# Start order; stopped in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

Step = Callable[[str], None]


class ControlPlaneError(Exception):
    pass


def kube_dir(work: Path) -> Path:
    return work / "kube"


def kubeconfig_path(work: Path) -> Path:
    return work / "kubeconfig"


def artifacts_path(work: Path) -> Path:
    """A kubeadm stack's kubernetes.artifactsDir: the lab's builds, binaries and images."""
    return work / "kubernetes-artifacts"


def build(host_only: bool = False) -> Path:
    """The directory of the control plane binaries, built from Go modules on first use; with
    `host_only`, the kubeadm artifacts may be missing (build.sh --host)."""
    p = subprocess.run(
        [str(HERE / "build.sh"), *(["--host"] if host_only else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    if p.returncode != 0:
        raise ControlPlaneError("building the lab's Kubernetes control plane failed (see above)")
    return Path(p.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- certificates


def _openssl(*args: str, cwd: Path) -> None:
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed: {p.stderr.strip()}")


def _signed(pki: Path, name: str, subject: str, ext: str) -> None:
    _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=pki)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=pki)
    (pki / f"{name}.ext").write_text(ext)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "3650", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
        cwd=pki,
    )  # fmt: skip


def ensure_pki(pki: Path, host_addr: str) -> None:
    """A lab CA, the API's serving certificate, an admin client and the service account keys."""
    if (pki / "complete").exists():
        return
    shutil.rmtree(pki, ignore_errors=True)
    pki.mkdir(parents=True, mode=0o700)
    _openssl("genrsa", "-out", "ca.key", "2048", cwd=pki)
    _openssl(
        "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=rbdlab-kube-ca", "-days", "3650",
        "-out", "ca.crt", cwd=pki,
    )  # fmt: skip
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"]
    sans = ",".join(
        [f"IP:{host_addr}", "IP:127.0.0.1", "IP:10.96.0.1"] + [f"DNS:{n}" for n in names]
    )
    _signed(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n",
    )
    # One identity for the lab's admin, the controllers and kwok: system:masters skips RBAC.
    _signed(pki, "admin", "/O=system:masters/CN=rbdlab-admin", "extendedKeyUsage=clientAuth\n")
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    (pki / "complete").write_text("")


def kubeconfig(pki: Path, server: str) -> str:
    """An admin kubeconfig with the certificates inline, so it can be copied anywhere."""

    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "rbdlab",
                "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")},
            }
        ],
        "users": [
            {
                "name": "rbdlab-admin",
                "user": {
                    "client-certificate-data": b64("admin.crt"),
                    "client-key-data": b64("admin.key"),
                },
            }
        ],
        "contexts": [{"name": "rbdlab", "context": {"cluster": "rbdlab", "user": "rbdlab-admin"}}],
        "current-context": "rbdlab",
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML: every client reads it


# --------------------------------------------------------------------------- processes


def _pidfile(kdir: Path, name: str) -> Path:
    return kdir / f"{name}.pid"


def component_pid(kdir: Path, name: str) -> int | None:
    """The pid of a running component we started (not a reused pid)."""
    try:
        pid = int(_pidfile(kdir, name).read_text())
        exe = os.readlink(f"/proc/{pid}/exe")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    # A rebuilt cache replaces the binary under a running process: its exe reads "... (deleted)".
    return pid if Path(exe).name.removesuffix(" (deleted)") == name and state != "Z" else None


def _start(kdir: Path, bin_dir: Path, name: str, args: Sequence[str]) -> None:
    log = open(kdir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [str(bin_dir / name), *args],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # outlives `lab up`
        cwd=kdir,
    )
    log.close()
    _pidfile(kdir, name).write_text(f"{proc.pid}\n")


def _stop(kdir: Path, name: str, timeout: float = 20) -> None:
    pid = component_pid(kdir, name)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while component_pid(kdir, name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if component_pid(kdir, name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    _pidfile(kdir, name).unlink(missing_ok=True)


def _arguments(kdir: Path, host_addr: str) -> dict[str, list[str]]:
    pki = kdir / "pki"
    admin = str(kdir / "admin.kubeconfig")
    return {
        "etcd": [
            f"--data-dir={kdir / 'etcd'}",
            "--name=rbdlab",
            f"--listen-client-urls=http://{ETCD_CLIENT}",
            f"--advertise-client-urls=http://{ETCD_CLIENT}",
            f"--listen-peer-urls=http://{ETCD_PEER}",
            f"--initial-advertise-peer-urls=http://{ETCD_PEER}",
            f"--initial-cluster=rbdlab=http://{ETCD_PEER}",
            "--listen-metrics-urls=",
            "--log-level=warn",
        ],
        "kube-apiserver": [
            f"--etcd-servers=http://{ETCD_CLIENT}",
            f"--bind-address={host_addr}",
            f"--advertise-address={host_addr}",
            f"--secure-port={API_PORT}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
        ],
        "kube-controller-manager": [
            f"--kubeconfig={admin}",
            "--secure-port=0",
            "--leader-elect=false",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
        ],
        "kube-scheduler": [f"--kubeconfig={admin}", "--secure-port=0", "--leader-elect=false"],
        "kwok": [
            f"--kubeconfig={admin}",
            f"--config={kdir / 'kwok-stages.yaml'}",
            "--manage-all-nodes=true",
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        ],
    }


# --------------------------------------------------------------------------- the API


def _context(pki: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return context


def api(
    pki: Path, server: str, path: str, method: str = "GET", body: object = None
) -> tuple[int, dict[str, Any]]:
    """One request to the lab API as its admin: (status, decoded JSON body or {})."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, context=_context(pki), timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"text": raw.decode(errors="replace")}


def _wait(what: str, ready: Callable[[], bool], timeout: float, kdir: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ssl.SSLError):
            if ready():
                return
        time.sleep(0.5)
    raise ControlPlaneError(f"{what} not ready after {timeout:.0f} s; logs in {kdir / 'logs'}")


def _etcd_healthy() -> bool:
    with urllib.request.urlopen(f"http://{ETCD_CLIENT}/health", timeout=2) as response:
        return bool(json.loads(response.read()).get("health") == "true")


def fake_node(name: str, address: str) -> dict[str, Any]:
    """A Node kwok manages, carrying the lab node's name and address."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": address},
                {"type": "Hostname", "address": name},
            ],
            "allocatable": NODE_CAPACITY,
            "capacity": NODE_CAPACITY,
        },
    }


def _nodes_ready(pki: Path, server: str, names: Sequence[str]) -> bool:
    status, body = api(pki, server, "/api/v1/nodes")
    ready = {
        item["metadata"]["name"]
        for item in body.get("items", [])
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in item.get("status", {}).get("conditions", [])
        )
    }
    return status == 200 and set(names) <= ready


# --------------------------------------------------------------------------- up, down, status


def kubectl_path(work: Path) -> Path:
    """The kubectl built with the running control plane."""
    return Path((kube_dir(work) / "binaries").read_text()) / "kubectl"


def up(
    work: Path, host_addr: str, nodes: dict[str, str], step: Step, host_only: bool = False
) -> None:
    """Start (or repair) the control plane and make a Ready fake node for each lab node; with
    `host_only`, without waiting for the kubeadm artifacts to be built."""
    kdir = kube_dir(work)
    bin_dir = build(host_only)
    artifacts = artifacts_path(work)
    if (bin_dir / "artifacts").is_dir():
        if not artifacts.is_symlink() or artifacts.readlink() != bin_dir / "artifacts":
            artifacts.unlink(missing_ok=True)
            artifacts.symlink_to(bin_dir / "artifacts")
    else:
        artifacts.unlink(missing_ok=True)
        step(
            "kubernetes: no kubeadm artifacts yet (a lab up without --host-kubernetes builds them)"
        )
    (kdir / "logs").mkdir(parents=True, exist_ok=True)
    pki = kdir / "pki"
    ensure_pki(pki, host_addr)
    server = f"https://{host_addr}:{API_PORT}"
    (kdir / "admin.kubeconfig").write_text(kubeconfig(pki, server))
    shutil.copyfile(bin_dir / "kwok-stages.yaml", kdir / "kwok-stages.yaml")
    # Other binaries (new versions pinned) replace the running ones; the cluster's data stays.
    # The same build's two stages (build.sh's host/ and bin/) share a parent and the binaries.
    built = kdir / "binaries"
    if built.exists() and Path(built.read_text()).parent != bin_dir.parent:
        step("kubernetes: restarting on the newly built binaries")
        for name in reversed(COMPONENTS):
            _stop(kdir, name)
    built.write_text(str(bin_dir))
    started = []
    for name in COMPONENTS:
        if component_pid(kdir, name) is None:
            _start(kdir, bin_dir, name, _arguments(kdir, host_addr)[name])
            started.append(name)
        if name == "etcd":
            _wait("etcd", _etcd_healthy, 60, kdir)
        elif name == "kube-apiserver":
            _wait("kube-apiserver", lambda: api(pki, server, "/readyz")[0] == 200, 120, kdir)
    step("kubernetes: " + (f"started {', '.join(started)}" if started else "already running"))
    for name, address in nodes.items():
        status, body = api(pki, server, "/api/v1/nodes", "POST", fake_node(name, address))
        if status not in (201, 409):
            raise ControlPlaneError(f"creating node {name}: HTTP {status} {body.get('message')}")
    _wait("kwok nodes", lambda: _nodes_ready(pki, server, list(nodes)), 60, kdir)
    path = kubeconfig_path(work)
    path.write_text(kubeconfig(pki, server))
    path.chmod(0o600)
    step(f"kubernetes: API {server}, nodes {', '.join(nodes)} Ready; kubeconfig {path}")


def down(work: Path, step: Step) -> None:
    """Stop every component and remove the cluster's data, certificates and kubeconfig."""
    kdir = kube_dir(work)
    running = [n for n in COMPONENTS if component_pid(kdir, n)]
    if running:
        step(f"kubernetes: stopping {', '.join(reversed(running))}")
    for name in reversed(COMPONENTS):
        _stop(kdir, name)
    shutil.rmtree(kdir, ignore_errors=True)
    kubeconfig_path(work).unlink(missing_ok=True)
    artifacts_path(work).unlink(missing_ok=True)


def status(work: Path) -> str:
    kdir = kube_dir(work)
    pids = {n: component_pid(kdir, n) for n in COMPONENTS}
    if not any(pids.values()):
        return "kubernetes: not running"
    parts = [f"{n} {pids[n] or 'STOPPED'}" for n in COMPONENTS]
    return f"kubernetes: {', '.join(parts)}; kubeconfig {kubeconfig_path(work)}"


def leftovers(work: Path) -> list[str]:
    kdir = kube_dir(work)
    left = [f"process {component_pid(kdir, n)} ({n})" for n in COMPONENTS if component_pid(kdir, n)]
    if kdir.exists():
        left.append(f"directory {kdir}")
    return left
