"""lab/kube/build.sh's two stages: `--host` gives the host's control plane without waiting for the
kubeadm artifacts, even while another run builds them, and the full build reuses the first stage.

Go and the artifacts packer are stand-ins on PATH (the lab tier builds for real): each `go build`
writes its outputs and notes what it built; a CoreDNS build waits until the test lets it go on.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.kube import control_plane

BUILD = Path(control_plane.__file__).parent / "build.sh"
HOST_BINARIES = {"etcd", "etcdutl", "kwok", "kube-apiserver", "kubeadm", "kubelet", "kubectl"}
KUBEADM_BINARIES = {"coredns", "flanneld", "install-conf", "flannel", "pause"}
KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)

FAKE_GO = r"""#!/bin/bash
case "$1" in
env) echo go1.26.8 ;;
list) echo "$STUB_KWOK" ;;
build)
    shift
    out= pkgs=()
    while [ $# -gt 0 ]; do
        case "$1" in
        -o) out=$2; shift 2 ;;
        -ldflags) shift 2 ;;
        -*) shift ;;
        *) pkgs+=("$1"); shift ;;
        esac
    done
    case "${pkgs[*]}" in *coredns*) until [ -e "$STUB_RELEASE" ]; do sleep 0.05; done ;; esac
    targets=("$out")
    [[ $out == */ ]] && targets=("${pkgs[@]/#*\//$out}")
    for t in "${targets[@]}"; do
        printf '#!/bin/sh\n' >"$t" && chmod +x "$t" && echo "${t##*/}" >>"$STUB_BUILT"
    done ;;
*) exit 2 ;;
esac
"""
# `python3 -m lab.kube.artifacts BIN TARGET` packs images from Debian packages: here it only marks
# TARGET complete. Anything else goes to the real python3.
FAKE_PYTHON = r"""#!/bin/bash
if [ "$1 $2" = "-m lab.kube.artifacts" ]; then mkdir -p "$4" && touch "$4/complete"; exit 0; fi
exec {python} "$@"
"""


@dataclass
class Builds:
    cache: Path
    built: Path
    release: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(BUILD), *args], capture_output=True, text=True, timeout=60
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["bash", str(BUILD), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def compiled(self) -> list[str]:
        return self.built.read_text().split() if self.built.exists() else []


@pytest.fixture
def builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Builds]:
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "go").write_text(FAKE_GO)
    python = subprocess.run(["sh", "-c", "command -v python3"], capture_output=True, text=True)
    (stubs / "python3").write_text(FAKE_PYTHON.format(python=python.stdout.strip()))
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    stages = tmp_path / "kwok" / "kustomize" / "stage"
    for f in KWOK_STAGES:
        (stages / f).parent.mkdir(parents=True, exist_ok=True)
        (stages / f).write_text(f"kind: Stage # {f}\n")
    b = Builds(tmp_path / "cache", tmp_path / "built", tmp_path / "release")
    monkeypatch.setenv("PATH", f"{stubs}:{os.environ['PATH']}")
    monkeypatch.setenv("RAINBOND_HA_CACHE", str(b.cache))
    monkeypatch.setenv("STUB_KWOK", str(tmp_path / "kwok"))
    monkeypatch.setenv("STUB_BUILT", str(b.built))
    monkeypatch.setenv("STUB_RELEASE", str(b.release))
    yield b
    b.release.touch()


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir() if p.is_file() and os.access(p, os.X_OK)}


def test_host_stage_alone_then_the_rest_reusing_it(builds: Builds) -> None:
    builds.release.touch()
    host = builds.run("--host")
    assert host.returncode == 0, host.stderr
    host_dir = Path(host.stdout.strip())
    assert host_dir.name == "host"
    assert names(host_dir) >= HOST_BINARIES
    assert not KUBEADM_BINARIES & names(host_dir)
    assert (host_dir / "kwok-stages.yaml").read_text().count("kind: Stage") == 5
    assert not KUBEADM_BINARIES & set(builds.compiled())

    full = builds.run()
    assert full.returncode == 0, full.stderr
    bin_dir = Path(full.stdout.strip())
    assert bin_dir.parent == host_dir.parent
    assert names(bin_dir) >= HOST_BINARIES | KUBEADM_BINARIES
    assert (bin_dir / "artifacts" / "complete").exists()
    # The first stage was not compiled again: its binaries are the same files.
    assert builds.compiled().count("kube-apiserver") == 1
    assert (bin_dir / "kube-apiserver").samefile(host_dir / "kube-apiserver")

    # Both stages are cached now: --host too gets the complete build, which has the artifacts.
    before = builds.compiled()
    assert builds.run("--host").stdout.strip() == str(bin_dir)
    assert builds.run().stdout.strip() == str(bin_dir)
    assert builds.compiled() == before


def test_host_stage_does_not_wait_for_a_build_of_the_rest(builds: Builds) -> None:
    full = builds.start()
    second: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 60
        while not _building_coredns(builds, full):
            assert time.monotonic() < deadline, "the full build never reached CoreDNS"
        host = builds.run("--host")
        assert host.returncode == 0, host.stderr
        assert Path(host.stdout.strip()).name == "host"
        assert full.poll() is None, "the full build ended before CoreDNS was let go on"
        # A second full build waits for the first one's second stage, then finds it cached.
        second = builds.start()
        time.sleep(0.5)
        assert second.poll() is None
        builds.release.touch()
        out, err = full.communicate(timeout=60)
        assert full.returncode == 0, err
        second_out, second_err = second.communicate(timeout=60)
        assert second.returncode == 0, second_err
        assert second_out == out
        assert "cached" in second_err
        assert builds.compiled().count("coredns") == 1
    finally:
        builds.release.touch()
        for build in (full, second):
            if build is not None:
                build.kill()


def _building_coredns(builds: Builds, full: subprocess.Popen[str]) -> bool:
    """Whether the full build reached CoreDNS (it waits there); fails if it ended first."""
    assert full.poll() is None, full.communicate()[1]
    log = builds.cache / "lab-kube" / "build.log"
    time.sleep(0.05)
    return log.exists() and "github.com/coredns/coredns" in log.read_text()
