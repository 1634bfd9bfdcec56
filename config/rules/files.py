"""Rules over the files a stack refers to: SSH keys, known hosts, kubeconfig, chart, artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .. import known_hosts
from ..excerpt import excerpt
from ..fields import CHART_REPOSITORY, is_url
from ..findings import Files, Finding, warning
from ..model import (
    ExistingKubernetes,
    KubeadmKubernetes,
    KubernetesSpec,
    Node,
    RainbondSpec,
    Rke2Kubernetes,
    SshDefaults,
    SshOptions,
    ssh_settings,
)
from .registry import Rule, collector

RULES: list[Rule] = []
rule = collector(RULES)
# Far more than the keys of any cluster, little enough to read into memory.
_MAX_KNOWN_HOSTS = 10 * 1024 * 1024


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # a name too long for the system, a NUL byte
        return False


def _file(path: str, value: str | None, files: Files, what: str) -> Iterator[Finding]:
    if value is None or _is_file(value):
        return
    if files is Files.REQUIRED:
        yield Finding(path, f"{value} does not exist", f"create it or point to {what}")
    else:
        yield warning(path, f"{value} does not exist here", f"preview and up will need {what}")


@rule
def _key_forms(path: str, options: SshOptions, files: Files) -> Iterator[Finding]:
    if options.private_key_file is not None and options.private_key is not None:
        yield Finding(
            f"{path}.privateKey",
            "is set together with privateKeyFile, and only one of them can be the key",
            "keep either privateKeyFile or the secret privateKey",
        )
    else:
        yield from _file(
            f"{path}.privateKeyFile", options.private_key_file, files, "the SSH private key"
        )


@rule
def private_keys(nodes: list[Node], ssh: SshOptions, files: Files) -> Iterator[Finding]:
    yield from _key_forms("ssh", ssh, files)
    for i, node in enumerate(nodes):
        yield from _key_forms(f"nodes[{i}].ssh", node.ssh, files)
        settings = ssh_settings(node, ssh)
        if settings.private_key_file is None and settings.private_key is None:
            yield Finding(
                f"nodes[{i}].ssh.privateKeyFile",
                f"node {node.name} has no SSH private key",
                "set ssh.privateKeyFile (or the secret ssh.privateKey) for all nodes or this one",
            )


@rule
def known_hosts_file(nodes: list[Node], ssh: SshDefaults, files: Files) -> Iterator[Finding]:
    path = ssh.known_hosts_file
    if path is None:
        unpinned = [node.name for node in nodes if ssh_settings(node, ssh).host_key is None]
        if unpinned:
            yield warning(
                "ssh.knownHostsFile",
                f"no host key is pinned for {', '.join(unpinned)}: SSH accepts whatever key"
                " answers at their addresses",
                "set it to an `ssh-keyscan` file of the nodes, or set nodes[].ssh.hostKey",
            )
        return
    if not _is_file(path):
        yield from _file("ssh.knownHostsFile", path, files, "an OpenSSH known_hosts file")
        return
    try:
        if Path(path).stat().st_size > _MAX_KNOWN_HOSTS:
            raise ValueError("it is larger than 10 MiB")
        entries = known_hosts.parse(Path(path).read_text())
    except (OSError, ValueError) as error:
        yield Finding(
            "ssh.knownHostsFile",
            f"{path} cannot be read as known_hosts ({error})",
            "use an OpenSSH known_hosts file, such as `ssh-keyscan` output",
        )
        return
    for i, node in enumerate(nodes):
        settings = ssh_settings(node, ssh)
        names = (node.address, node.name)
        if settings.host_key is None and not known_hosts.host_key(entries, names, settings.port):
            yield Finding(
                "ssh.knownHostsFile",
                f"{path} has no host key for node {node.name} ({node.address})",
                f"add `ssh-keyscan -p {settings.port} {node.address}` to it,"
                f" or set nodes[{i}].ssh.hostKey",
            )


@rule
def kubeconfig_file(kubernetes: KubernetesSpec, files: Files) -> Iterator[Finding]:
    if not isinstance(kubernetes, ExistingKubernetes):
        return
    yield from _file(
        "kubernetes.kubeconfigPath", kubernetes.kubeconfig_path, files, "the cluster's kubeconfig"
    )


@rule
def chart_source(rainbond: RainbondSpec, files: Files) -> Iterator[Finding]:
    chart = rainbond.chart
    right = f"use {CHART_REPOSITORY}, an oci:// reference or the path of a chart .tgz"
    if rainbond.chart_is_repository:
        return
    if is_url(chart):
        yield Finding("rainbond.chart", f"{excerpt(chart)} is not an https:// or oci:// URL", right)
    elif not chart.endswith((".tgz", ".tar.gz")) and not _is_file(chart):
        # Not a URL and not named like a chart archive: most likely a repository without https://.
        yield Finding(
            "rainbond.chart", f"{excerpt(chart)} is neither a URL nor an existing chart file", right
        )
    else:
        yield from _file("rainbond.chart", chart, files, "the chart .tgz")


@rule
def rke2_artifacts(kubernetes: KubernetesSpec, files: Files) -> Iterator[Finding]:
    if not isinstance(kubernetes, Rke2Kubernetes) or kubernetes.artifacts_dir is None:
        return
    directory = kubernetes.artifacts_dir
    if not Path(directory).is_dir():
        yield from _file(
            "kubernetes.artifactsDir", directory, files, "a directory of RKE2's release artifacts"
        )
    elif not (Path(directory) / "install.sh").is_file():
        yield Finding(
            "kubernetes.artifactsDir",
            f"{directory} has no install.sh",
            "put RKE2's install.sh there with the release tarball, checksums and image archives",
        )


# What a kubeadm node installs from artifactsDir instead of downloading.
KUBEADM_BINARIES = ("kubeadm", "kubelet", "kubectl")


@rule
def kubeadm_artifacts(kubernetes: KubernetesSpec, files: Files) -> Iterator[Finding]:
    if not isinstance(kubernetes, KubeadmKubernetes) or kubernetes.artifacts_dir is None:
        return
    directory = Path(kubernetes.artifacts_dir)
    if not directory.is_dir():
        yield from _file(
            "kubernetes.artifactsDir", str(directory), files, "a directory of Kubernetes binaries"
        )
        return
    missing = [f"bin/{b}" for b in KUBEADM_BINARIES if not (directory / "bin" / b).is_file()]
    if missing:
        yield Finding(
            "kubernetes.artifactsDir",
            f"{directory} has no {', '.join(missing)}",
            f"put the {kubernetes.version} release binaries from dl.k8s.io in {directory}/bin",
        )
    if not sorted((directory / "images").glob("*.tar")):
        yield Finding(
            "kubernetes.artifactsDir",
            f"{directory} has no images/*.tar",
            "save the images `kubeadm config images list` names, and flannel's, as archives"
            " in images/ (ctr images export, docker save or skopeo)",
        )
