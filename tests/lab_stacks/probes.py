"""What a user of the platform sees while `pulumi up` changes it: probes run from the host.

Each probe calls one service at a fixed interval in a thread of its own, bounded in count and
time, and keeps every outcome: the gateway VIP (an HTTP GET), the database source (an INSERT as
the Rainbond user, through the address Rainbond uses) and the registry (a manifest fetch).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

# However long an `up` runs, a probe stops after this many calls (and this long).
MAX_SECONDS = 900


@dataclass
class Outcome:
    at: float
    ok: bool
    detail: str = ""


@dataclass
class Report:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(not outcome.ok for outcome in self.outcomes)

    @property
    def longest_outage(self) -> float:
        """Seconds from the first failure of a run of failures to the next success."""
        longest, began = 0.0, None
        for outcome in self.outcomes:
            if not outcome.ok and began is None:
                began = outcome.at
            elif outcome.ok and began is not None:
                longest, began = max(longest, outcome.at - began), None
        if began is not None:
            longest = max(longest, self.outcomes[-1].at - began)
        return longest

    def __str__(self) -> str:
        details = sorted({o.detail for o in self.outcomes if not o.ok})[:3]
        return (
            f"{self.name}: {len(self.outcomes)} calls, {self.failures} failed, longest outage"
            f" {self.longest_outage:.2f} s{' (' + '; '.join(details) + ')' if details else ''}"
        )


class Probe(threading.Thread):
    """Calls `call` every `interval` seconds until stopped; a call returns a detail or raises."""

    def __init__(self, name: str, interval: float, call: Callable[[int], str]) -> None:
        super().__init__(daemon=True, name=name)
        self.interval = interval
        self.call = call
        self.report = Report(name)
        self.halt = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for number in range(int(MAX_SECONDS / self.interval)):
            at = time.monotonic()
            if self.halt.is_set() or at - started > MAX_SECONDS:
                return
            try:
                self.report.outcomes.append(Outcome(at, True, self.call(number)))
            except Exception as error:  # every failure is an outcome to report
                self.report.outcomes.append(Outcome(at, False, f"{type(error).__name__}: {error}"))
            self.halt.wait(max(0.0, self.interval - (time.monotonic() - at)))

    def stop(self) -> Report:
        self.halt.set()
        self.join(timeout=60)
        print(self.report)
        return self.report


def http_get(url: str, timeout: float = 0.5) -> Callable[[int], str]:
    def call(_: int) -> str:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.status)

    return call


class Inserts:
    """INSERTs into `console.day2_probe` as the Rainbond user; `acked` holds every committed id."""

    TABLE = "console.day2_probe"

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.acked: list[int] = []
        self.connection: Any = None
        self.base = 0

    def create_table(self) -> None:
        with self._connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {self.TABLE} (id INT PRIMARY KEY)")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.TABLE}")
            self.base = int(cursor.fetchone()[0])

    def _connect(self) -> Any:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            connect_timeout=2,
            read_timeout=2,
            autocommit=True,
        )

    def __call__(self, _: int) -> str:
        # Rows count on across probes: the same table serves every `up` of a test module.
        self.base += 1
        row = self.base
        try:
            if self.connection is None:
                self.connection = self._connect()
            with self.connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {self.TABLE} VALUES (%s)", (row,))
        except Exception:
            # A fresh connection next time, as a client pool would open.
            self.connection = None
            raise
        self.acked.append(row)
        return str(row)


class Manifest:
    """Pushes and fetches one manifest with basic auth: over TLS with the registry's own CA, or
    over plain HTTP (`ca_pem` None), as Rainbond's BuildKit pushes."""

    ACCEPT = "application/vnd.oci.image.manifest.v1+json"

    def __init__(self, domain: str, username: str, password: str, ca_pem: str | None) -> None:
        self.base = f"{'http' if ca_pem is None else 'https'}://{domain}/v2"
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.context = None if ca_pem is None else ssl.create_default_context(cadata=ca_pem)
        self.upload_locations: list[str] = []

    def _request(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5,
    ) -> Any:
        request = urllib.request.Request(
            url, data=data, method=method, headers={**self.headers, **(headers or {})}
        )
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)

    def push(self, repository: str, tag: str) -> str:
        """A one-layer OCI image made here; returns the manifest's digest."""
        layer = b"rainbond-ha day-2 probe layer\n"
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        blobs = []
        for data, media_type in (
            (config, "application/vnd.oci.image.config.v1+json"),
            (layer, "application/vnd.oci.image.layer.v1.tar"),
        ):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            self._upload(repository, digest, data)
            blobs.append({"mediaType": media_type, "digest": digest, "size": len(data)})
        manifest = json.dumps(
            {"schemaVersion": 2, "mediaType": self.ACCEPT, "config": blobs[0], "layers": blobs[1:]}
        ).encode()
        url = f"{self.base}/{repository}/manifests/{tag}"
        self._request("PUT", url, manifest, {"Content-Type": self.ACCEPT}).close()
        return "sha256:" + hashlib.sha256(manifest).hexdigest()

    def push_layout(self, repository: str, tag: str, archive: Path) -> str:
        """The image in an OCI layout archive (one image); returns the manifest's digest."""
        with tarfile.open(archive) as tar:

            def read(name: str) -> bytes:
                member = tar.extractfile(name)
                assert member is not None, name
                return member.read()

            (entry,) = json.loads(read("index.json"))["manifests"]
            manifest = read(f"blobs/sha256/{entry['digest'].removeprefix('sha256:')}")
            parsed = json.loads(manifest)
            for blob in [parsed["config"], *parsed["layers"]]:
                data = read(f"blobs/sha256/{blob['digest'].removeprefix('sha256:')}")
                self._upload(repository, blob["digest"], data)
        url = f"{self.base}/{repository}/manifests/{tag}"
        self._request("PUT", url, manifest, {"Content-Type": self.ACCEPT}).close()
        return str(entry["digest"])

    def _upload(self, repository: str, digest: str, data: bytes) -> None:
        with self._request("POST", f"{self.base}/{repository}/blobs/uploads/") as started:
            location = started.headers["Location"]
        self.upload_locations.append(location)
        if location.startswith("/"):
            location = self.base.removesuffix("/v2") + location
        joiner = "&" if "?" in location else "?"
        # Not urllib's default form type: the registry (Go) would read the body as a form.
        url = f"{location}{joiner}digest={digest}"
        # Long enough for a layer of a few tens of MiB.
        headers = {"Content-Type": "application/octet-stream"}
        self._request("PUT", url, data, headers, timeout=60).close()

    def fetcher(self, repository: str, tag: str, digest: str) -> Callable[[int], str]:
        def call(_: int) -> str:
            url = f"{self.base}/{repository}/manifests/{tag}"
            with self._request("GET", url, headers={"Accept": self.ACCEPT}) as response:
                got = "sha256:" + hashlib.sha256(response.read()).hexdigest()
            if got != digest:
                raise AssertionError(f"manifest {got} is not the pushed {digest}")
            return got

        return call


class Probes:
    """The three probes around one `pulumi up`: start() before, stop() after."""

    def __init__(self, vip_url: str, inserts: Inserts, manifest: Callable[[int], str]) -> None:
        self.inserts = inserts
        self.reports: dict[str, Report] = {}
        self.threads = [
            Probe("gateway VIP", 0.1, http_get(vip_url)),
            Probe("database inserts", 0.1, inserts),
            Probe("registry manifest", 0.5, manifest),
        ]

    def __enter__(self) -> Probes:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.reports = {thread.name: thread.stop() for thread in self.threads}

    def report(self, name: str) -> Report:
        return self.reports[name]
