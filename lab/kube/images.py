"""OCI image archives of the lab's Kubernetes: what an air-gapped operator downloads and hands to
the stack as `kubernetes.artifactsDir`/images, made here from the binaries the lab builds.

Each archive is an OCI image layout in a tar, named with the annotations `ctr images import`
reads, one uncompressed layer per part (the binaries; for the images that run iptables, a Debian
userland unpacked from the archive's packages).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# iptables for kube-proxy and flanneld (both run it), busybox for the shell and cp the flannel
# CNI installer runs; Debian packages, unpacked without their maintainer scripts.
USERLAND_PACKAGES = (
    "libc6",
    "libgcc-s1",
    "iptables",
    "libxtables12",
    "libip4tc2",
    "libip6tc2",
    "libnftnl11",
    "libmnl0",
    "libnetfilter-conntrack3",
    "libnfnetlink0",
    "busybox-static",
)
# The links update-alternatives and busybox --install would make: iptables in nft mode, as
# Debian's default.
USERLAND_LINKS = {
    **{
        f"usr/sbin/{tool}": "xtables-nft-multi"
        for tool in (
            "iptables",
            "iptables-save",
            "iptables-restore",
            "ip6tables",
            "ip6tables-save",
            "ip6tables-restore",
        )
    },
    **{f"bin/{tool}": "busybox" for tool in ("sh", "cp", "mkdir", "cat", "ls", "sleep")},
}
PATH = "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Image:
    name: str  # full reference, repository:tag
    files: Mapping[str, Path]  # path in the image -> file on this machine
    entrypoint: tuple[str, ...] = ()
    userland: bool = False
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def archive(self) -> str:
        return self.name.replace("/", "_").replace(":", "_") + ".tar"


def _tar(entries: Iterable[tuple[str, Path | None, str | None]]) -> bytes:
    """An uncompressed, reproducible layer: (path, source file or None, link target or None)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, source, link in sorted(entries):
            info = tarfile.TarInfo(path)
            info.mtime = 0
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                tar.addfile(info)
            elif source is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                data = source.read_bytes()
                info.size = len(data)
                info.mode = source.stat().st_mode & 0o777
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _tree(root: Path) -> list[tuple[str, Path | None, str | None]]:
    entries: list[tuple[str, Path | None, str | None]] = []
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            entries.append((rel, None, str(p.readlink())))
        elif p.is_dir():
            entries.append((rel, None, None))
        elif p.is_file():
            entries.append((rel, p, None))
    return entries


def _parents(paths: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def userland_layer(work: Path) -> bytes:
    """The Debian packages of USERLAND_PACKAGES, downloaded with the host's apt and unpacked."""
    debs = work / "debs"
    root = work / "root"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", "-q", *USERLAND_PACKAGES], cwd=debs, check=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    for path, target in USERLAND_LINKS.items():
        link = root / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(target)
    return _tar(_tree(root))


def _blob(blobs: dict[str, bytes], data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def write_archive(image: Image, layers: list[bytes], target: Path) -> None:
    blobs: dict[str, bytes] = {}
    layer_refs = [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", **_blob(blobs, layer)}
        for layer in layers
    ]
    env = {"PATH": PATH, **image.env}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [f"{k}={v}" for k, v in env.items()],
            **({"Entrypoint": list(image.entrypoint)} if image.entrypoint else {}),
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers],
        },
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(blobs, json.dumps(config, sort_keys=True).encode()),
        },
        "layers": layer_refs,
    }
    manifest_ref = _blob(blobs, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **manifest_ref,
                "annotations": {
                    "io.containerd.image.name": image.name,
                    "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[1],
                },
            }
        ],
    }
    entries: dict[str, bytes] = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index, sort_keys=True).encode(),
    }
    entries.update({f"blobs/sha256/{d.split(':')[1]}": data for d, data in blobs.items()})
    partial = target.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for path in sorted(_parents(entries)):
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, data in entries.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    partial.rename(target)


def build(images: Iterable[Image], target: Path) -> None:
    """Writes one archive per image into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    userland: bytes | None = None
    for image in images:
        layers = []
        if image.userland:
            if userland is None:
                with tempfile.TemporaryDirectory() as work:
                    userland = userland_layer(Path(work))
            layers.append(userland)
        files: list[tuple[str, Path | None, str | None]] = [
            (path, source, None) for path, source in image.files.items()
        ]
        files += [(d, None, None) for d in _parents(image.files)]
        layers.append(_tar(files))
        write_archive(image, layers, target / image.archive)
