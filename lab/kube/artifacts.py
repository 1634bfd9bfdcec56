"""The lab's kubeadm artifacts directory (kubernetes.artifactsDir) from the binaries build.sh
made: bin/ with kubeadm, kubelet and kubectl, images/ with an archive per image the cluster runs.

The images carry lab names (IMAGE_REPOSITORY, FLANNEL_IMAGE, FLANNEL_CNI_PLUGIN_IMAGE): they are
the lab's own builds, not upstream's, and the lab stack names them in its configuration.
Usage: python3 -m lab.kube.artifacts BIN_DIR TARGET_DIR
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .images import Image, build

HERE = Path(__file__).resolve().parent
IMAGE_REPOSITORY = "lab.test/kubernetes"


def versions() -> dict[str, str]:
    lines = (HERE / "versions.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def images(bin_dir: Path) -> list[Image]:
    v = versions()
    kube = f"v{v['KUBERNETES_VERSION']}"

    def binary(name: str) -> dict[str, Path]:
        return {f"usr/local/bin/{name}": bin_dir / name}

    return [
        *(
            Image(f"{IMAGE_REPOSITORY}/{name}:{kube}", binary(name))
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        ),
        # kube-proxy programs iptables.
        Image(f"{IMAGE_REPOSITORY}/kube-proxy:{kube}", binary("kube-proxy"), userland=True),
        Image(f"{IMAGE_REPOSITORY}/etcd:{etcd_tag()}", {**binary("etcd"), **binary("etcdutl")}),
        Image(
            f"{IMAGE_REPOSITORY}/coredns:v{v['COREDNS_VERSION']}",
            {"coredns": bin_dir / "coredns"},
            entrypoint=("/coredns",),
        ),
        Image(
            f"{IMAGE_REPOSITORY}/pause:{v['PAUSE_VERSION']}",
            {"pause": bin_dir / "pause"},
            entrypoint=("/pause",),
        ),
        Image(
            flannel_image(),
            {
                "opt/bin/flanneld": bin_dir / "flanneld",
                "opt/bin/install-conf": bin_dir / "install-conf",
            },
            entrypoint=("/opt/bin/flanneld",),
            userland=True,
        ),
        # Its init container runs `cp` (busybox's, in the userland layer).
        Image(flannel_cni_plugin_image(), {"flannel": bin_dir / "flannel"}, userland=True),
    ]


def etcd_tag() -> str:
    return f"{versions()['ETCD_VERSION']}-0"


def flannel_image() -> str:
    return f"lab.test/flannel/flannel:v{versions()['FLANNEL_VERSION']}"


def flannel_cni_plugin_image() -> str:
    return f"lab.test/flannel/flannel-cni-plugin:v{versions()['CNI_PLUGINS_VERSION']}"


def main(bin_dir: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    (target / "bin").mkdir(parents=True)
    for name in ("kubeadm", "kubelet", "kubectl"):
        os.link(bin_dir / name, target / "bin" / name)
    build(images(bin_dir), target / "images")
    (target / "complete").write_text("")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
