"""No generated secret shows in plain text anywhere a deployment of the platform leaves traces.

The platform (Pulumi.lab.yaml: keepalived, managed registry and database, the release on the lab's
Kubernetes API) goes up while the argv and environment of every process, on every node and on
the host (the engine, its plugins, the program and whatever they start), are sampled every 100 ms.
Every RandomPassword/RandomString result, the SSH key and the lab API's client key are then
searched for in: the state as `pulumi stack export` shows it and every file of the state backend,
the deploy's output and engine events, the process samples, the nodes' journals of the deploy
window, the files under /var/log, /tmp, /var/tmp and /root changed on the nodes since the deploy
began, and the files under the host's /tmp and /var/tmp changed since then (the engine's private
TMPDIR aside: it is removed when the run ends). Controls show the search can fail: the VRRP
password is found in the node's 0600 keepalived file it belongs in, a canary put in a process's
argv and environment on a node and on the host is found in the samples, a canary file in the
host's /var/tmp is found, and the kubeconfig copies the kubernetes provider writes (client key
included) are in the engine's private TMPDIR, which goes when the process ends.
Then destroy. About 1.5 minutes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from lab.kube import control_plane
from lab.labctl import SSH_KEY, WORK, node_root, require_lab_up
from tests.e2e.engine import PROJECT_ROOT, engine_tmp, exported_state
from tests.lab_stacks.audit import ProcessSampler, host_temp_files, on
from tests.lab_stacks.harness import component_stack

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.kubernetes,
]

NODES = ("node1", "node2", "node3")
GENERATED = ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString")
# The passwords the lab stack must generate, at least: if one is renamed, the audit must follow.
EXPECTED = {
    "database-password",
    "database-replication-password",
    "gateway-keepalived-auth",
    "registry-http-secret",
    "registry-password",
}
KEEPALIVED_INSTANCE = "/etc/keepalived/rainbond-ha/rainbond-gateway.conf"
# A secret shows in `pulumi stack export --show-secrets` as {<signature>: ..., "plaintext": JSON}.
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
CANARY = f"rbd-canary-{uuid.uuid4().hex}"
CANARY_FILE = Path("/var/tmp") / CANARY


@dataclass
class Traces:
    secrets: dict[str, str]
    corpora: dict[str, str]
    sampler: ProcessSampler
    seconds: float


def generated_secrets(stack: auto.Stack) -> dict[str, str]:
    """Name -> value of every generated secret in the decrypted state, and of the SSH key."""
    resources = json.loads(exported_state(stack, show_secrets=True))["deployment"]["resources"]
    found = {}
    for resource in resources:
        if resource["type"] in GENERATED:
            result = resource["outputs"]["result"]
            assert isinstance(result, dict) and SECRET_SIGNATURE in result, resource["urn"]
            found[resource["urn"].split("::")[-1]] = json.loads(result["plaintext"])
    # The key's longest base64 line: specific to this key, and whole in any copy of it.
    found["ssh-private-key"] = max(SSH_KEY.read_text().splitlines(), key=len)
    found["kube-client-key"] = kube_client_key()
    return found


def kube_client_key() -> str:
    """The lab API admin's private key, as every kubeconfig of the lab carries it."""
    config = yaml.safe_load(control_plane.kubeconfig_path(WORK).read_text())
    return str(config["users"][0]["user"]["client-key-data"])


def event_text(event: auto.EngineEvent) -> str:
    return json.dumps(event, default=lambda o: getattr(o, "__dict__", str(o)))


def state_files(state_dir: Path) -> str:
    files = sorted(p for p in state_dir.rglob("*") if p.is_file())
    assert files
    return "\n".join(p.read_bytes().decode(errors="replace") for p in files)


def node_traces(node: str, since: float) -> dict[str, str]:
    """The node's journal since `since` (every field, with each entry's command line) and the
    log and scratch files changed since then."""
    journal = on(node, f"journalctl -o json --no-pager --since=@{int(since) - 1}")
    files = on(
        node,
        f"find /var/log /tmp /var/tmp /root -xdev -type f -newermt @{int(since) - 1}"
        " ! -path '/var/log/journal/*' -size -20M -print0 | xargs -0 -r cat",
    )
    return {f"journal:{node}": journal, f"files:{node}": files}


def plant_canaries() -> None:
    """A short process with the canary in argv and environment, on node2 and on the host, and a
    file holding it in the host's /var/tmp."""
    CANARY_FILE.write_text(f"{CANARY}-file\n")
    on("node2", f"env RBD_CANARY={CANARY}-env sh -c 'sleep 1; true' {CANARY}-argv")
    subprocess.run(
        ["sh", "-c", "sleep 1; true", f"{CANARY}-argv"],
        env={**os.environ, "RBD_CANARY": f"{CANARY}-env"},
        check=True,
    )


def hits(secrets: Mapping[str, str], corpora: Mapping[str, str]) -> list[str]:
    """`<secret name> in <corpus>` for each secret found; the values themselves stay unprinted."""
    return [
        f"{name} in {corpus}"
        for corpus, text in corpora.items()
        for name, secret in secrets.items()
        if secret in text
    ]


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traces]:
    require_lab_up()
    where = tmp_path_factory.mktemp("secrets")
    stack = component_stack("secrets", where, ["platform"])
    output: list[str] = []
    events: list[str] = []
    since = time.time()
    try:
        with ProcessSampler(NODES) as sampler:
            stack.up(on_output=output.append, on_event=lambda e: events.append(event_text(e)))
            plant_canaries()
        corpora = {
            "stack export": exported_state(stack),
            "state backend files": state_files(where / "state"),
            "deploy output": "".join(output),
            "engine events": "\n".join(events),
            **{f"processes:{w}": "\n".join(sampler.of(w)) for w in (*NODES, "host")},
        }
        for node in NODES:
            corpora.update(node_traces(node, since))
        corpora["host temp files"] = host_temp_files(since, skip=engine_tmp())
        yield Traces(generated_secrets(stack), corpora, sampler, time.time() - since)
    finally:
        CANARY_FILE.unlink(missing_ok=True)
        stack.destroy(on_output=output.append)


def test_every_generated_secret_is_collected(traces: Traces) -> None:
    assert traces.secrets.keys() >= EXPECTED, sorted(traces.secrets)
    assert all(len(value) >= 8 for value in traces.secrets.values())


def test_every_corpus_was_read(traces: Traces) -> None:
    assert all(text.strip() for text in traces.corpora.values()), [
        name for name, text in traces.corpora.items() if not text.strip()
    ]
    # Sampling kept pace: at least one round per 200 ms of the deploy.
    assert traces.sampler.rounds >= traces.seconds / 0.2, (traces.sampler.rounds, traces.seconds)
    for node in NODES:
        assert "sshd" in traces.corpora[f"processes:{node}"], node


def test_search_finds_a_secret_where_it_belongs(traces: Traces) -> None:
    # keepalived needs the VRRP password in its configuration: a 0600 file written from stdin.
    config = node_root("node1") / KEEPALIVED_INSTANCE.lstrip("/")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    password = {"gateway-keepalived-auth": traces.secrets["gateway-keepalived-auth"]}
    assert hits(password, {"keepalived": config.read_text()}) == [
        "gateway-keepalived-auth in keepalived"
    ]


def test_sampler_sees_argv_and_environment(traces: Traces) -> None:
    canaries = {"argv": f"{CANARY}-argv", "env": f"{CANARY}-env"}
    found = hits(canaries, {w: traces.corpora[f"processes:{w}"] for w in ("node2", "host")})
    assert sorted(found) == ["argv in host", "argv in node2", "env in host", "env in node2"]


def test_search_reads_the_host_temp_dirs(traces: Traces) -> None:
    canary = {"file": f"{CANARY}-file"}
    assert hits(canary, {"host": traces.corpora["host temp files"]}) == ["file in host"]


def test_kubeconfig_copies_stay_in_the_engine_tmpdir(traces: Traces) -> None:
    # The kubernetes provider (writeKubeconfigToFile) leaves one per operation that configures it:
    # in the host's /tmp, without the engine's private TMPDIR, they are what the search would find.
    # Other stacks of the same test run (another cluster's token) leave theirs there too.
    copies = [path.read_text() for path in engine_tmp().glob("kubeconfig*")]
    assert any(traces.secrets["kube-client-key"] in text for text in copies)


def test_engine_tmpdir_goes_when_the_process_ends() -> None:
    script = (
        "from tests.e2e.engine import engine_tmp; p = engine_tmp(); "
        "(p / 'kubeconfig1').write_text('key'); print(p)"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert not Path(run.stdout.strip()).exists()


def test_no_secret_in_plain_text(traces: Traces) -> None:
    assert hits(traces.secrets, traces.corpora) == []
