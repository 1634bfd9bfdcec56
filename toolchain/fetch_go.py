"""Installs Go from the Go module proxy: the golang.org/toolchain module that `go` itself switches
to, a zip of a Go release. The zip must match the go.sum hash pinned in versions.env before
anything is unpacked. Usage: fetch_go.py VERSION H1_SUM DIR (DIR must not exist yet)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path


def proxy() -> str:
    """The first proxy of GOPROXY that is a URL (not `direct` or `off`)."""
    for entry in os.environ.get("GOPROXY", "https://proxy.golang.org").replace("|", ",").split(","):
        if entry.startswith(("https://", "http://")):
            return entry.rstrip("/")
    return "https://proxy.golang.org"


def dirhash(archive: zipfile.ZipFile) -> str:
    """The h1: hash go.sum records for a module zip (golang.org/x/mod/sumdb/dirhash.Hash1)."""
    lines = "".join(
        f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}\n"
        for name in sorted(archive.namelist())
        if not name.endswith("/")
    )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def unpack(archive: zipfile.ZipFile, prefix: str, into: Path) -> None:
    for member in archive.infolist():
        if member.is_dir() or not member.filename.startswith(prefix):
            continue
        path = into / member.filename[len(prefix) :]
        path.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(member) as source, path.open("wb") as target:
            shutil.copyfileobj(source, target)
    # Module zips carry no file modes: the commands are the ones go's own switch marks executable.
    for command in [*(into / "bin").iterdir(), *(into / "pkg" / "tool").glob("*/*")]:
        command.chmod(0o755)


def main(version: str, sum_: str, target: Path) -> None:
    module = f"golang.org/toolchain@v0.0.1-go{version}.linux-amd64"
    url = f"{proxy()}/golang.org/toolchain/@v/v0.0.1-go{version}.linux-amd64.zip"
    print(f"go{version}: downloading {url}", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        zip_path = Path(work) / "go.zip"
        with urllib.request.urlopen(url, timeout=120) as response, zip_path.open("wb") as out:
            shutil.copyfileobj(response, out)
        with zipfile.ZipFile(zip_path) as archive:
            found = dirhash(archive)
            if found != sum_:
                sys.exit(f"go{version}: {url} has {found}, versions.env pins {sum_}")
            partial = Path(work) / "go"
            unpack(archive, f"{module}/", partial)
        partial.rename(target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
