"""The API VIP's health check (/readyz on 6443, armed like the gateway's), and the gateway's
rendering kept as deployed stacks have it (fixtures rendered by the release before the API check
existed) but for one line, so their gateway steps change only by a keepalived reload."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from components.keepalived import files
from components.keepalived.vip import node_params
from tests.unit.conftest import Deployment, unwrap
from tests.unit.test_keepalived import API, GATEWAY, block

FIXTURES = Path(__file__).parent / "fixtures" / "keepalived"
API_CHECKED = replace(API, check_readyz=6443)


def test_the_gateway_renders_as_before_but_hears_leaving_peers() -> None:
    before = (FIXTURES / "gateway.conf").read_text()
    assert "    check_unicast_src\n" in before
    without = before.replace("    check_unicast_src\n", "")
    assert _uncommented(files.instance_config(GATEWAY)) == _uncommented(without)
    assert files.check_script(GATEWAY) == (FIXTURES / "gateway-check.sh").read_text()
    assert files.main_config() == (FIXTURES / "keepalived.conf").read_text()
    assert node_params(GATEWAY)["PACKAGES"] == "keepalived iputils-arping"


def _uncommented(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def test_the_api_instance_faults_when_its_check_fails() -> None:
    check = block(files.instance_config(API_CHECKED), "vrrp_script rainbond-api-check")
    assert f'script "{API_CHECKED.check_path}"' in check and "weight 0" in check
    assert "timeout 3" in check  # curl's 2 s, plus one
    assert "rainbond-api-check" in block(files.instance_config(API_CHECKED), "track_script")
    assert "curl" in node_params(API_CHECKED)["PACKAGES"].split()


def test_an_instance_checks_ports_or_readyz_not_both() -> None:
    with pytest.raises(ValueError, match="either TCP ports or /readyz"):
        replace(GATEWAY, check_readyz=6443)
    with pytest.raises(ValueError, match="/readyz port 0"):
        replace(API, check_readyz=0)


def test_the_api_vip_steps_carry_the_readyz_check(dev: Deployment) -> None:
    for node in ("rbd-1", "rbd-2", "rbd-3"):
        text = str(unwrap(dev.named(f"kubernetes-api-vip-{node}").inputs["create"]))
        assert "track_script" in text and "url=https://127.0.0.1:6443/readyz" in text
        assert "for port in" not in text
        gateway = str(unwrap(dev.named("gateway-keepalived-rbd-1").inputs["create"]))
        assert "/readyz" not in gateway


# --- the check, run by bash against a stand-in API on loopback -------------------------------


class _Readyz(http.server.BaseHTTPRequestHandler):
    answer: ClassVar[tuple[int, bytes]] = (200, b"ok")

    def do_GET(self) -> None:
        code, body = self.answer if self.path == "/readyz" else (404, b"")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 answering /readyz, with a self-signed certificate."""
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def readyz_check(tmp_path: Path, port: int) -> int:
    instance = replace(API, check_readyz=port)
    text = files.check_script(instance)
    script = tmp_path / "check.sh"
    script.write_text(text.replace(instance.armed_path, str(tmp_path / "armed")))
    return subprocess.run(["bash", str(script)], capture_output=True, timeout=10).returncode


def test_readyz_check_passes_until_the_api_has_answered_then_follows_it(
    tmp_path: Path, api: int
) -> None:
    armed = tmp_path / "armed"
    _Readyz.answer = (500, b"[-]etcd failed")
    # RKE2 not started yet here: the node may hold the VIP, and the check stays unarmed.
    assert readyz_check(tmp_path, api) == 0 and not armed.exists()
    _Readyz.answer = (200, b"ok")
    assert readyz_check(tmp_path, api) == 0 and armed.exists()
    # Armed: an API that is not ready, or gone, gives the VIP away.
    _Readyz.answer = (500, b"[-]etcd failed")
    assert readyz_check(tmp_path, api) == 1
    _Readyz.answer = (200, b"ok")
    assert readyz_check(tmp_path, api) == 0


def test_readyz_check_fails_once_armed_when_nothing_listens(tmp_path: Path) -> None:
    (tmp_path / "armed").touch()
    assert readyz_check(tmp_path, 9) == 1
