"""The HTTP transport of ``hubcli serve`` (uvicorn + the ASGI app): graceful shutdown finishes
answers in flight, a stalled request body neither blocks other clients nor holds its connection
past the idle timeout, ``100 Continue`` comes when the body is wanted, pipelined requests are
answered in order, the failure knob cuts a body mid-way without a logged error, and the CLI's
start-up does not import the server stack."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from hubcli.server.limits import Limits
from tests.fixtures.hub import HubFixture


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port or 80), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_stop_finishes_answers_in_flight(tmp_path: Path) -> None:
    hub = HubFixture(tmp_path, bandwidth_mbps=2.0).start()
    data = b"z" * 1_000_000  # 0.5 s at 2 MB/s
    hub.seed_repo("alice/m", {"big.txt": data})
    got: list[bytes] = []

    def fetch() -> None:
        got.append(requests.get(f"{hub.url}/alice/m/resolve/main/big.txt", timeout=10).content)

    t = threading.Thread(target=fetch)
    t.start()
    time.sleep(0.15)  # the answer is under way
    started = time.monotonic()
    hub.stop()
    t.join(10)
    assert got == [data]
    assert time.monotonic() - started < 5
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{hub.url}/api/models", timeout=2)


def test_stalled_body_neither_blocks_others_nor_outlives_the_idle_timeout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    hub = HubFixture(tmp_path, limits=Limits(idle_timeout=1.0, worker_threads=4)).start()
    try:
        hub.seed_repo("alice/m", {"a.txt": "a"})
        stalled = _connect(hub.url)
        stalled.sendall(
            b"POST /api/validate-yaml HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        )
        t0 = time.monotonic()
        for _ in range(20):  # the event loop keeps serving while a worker waits for the body
            r = requests.get(f"{hub.url}/alice/m/resolve/main/a.txt", timeout=5)
            assert r.status_code == 200
        assert time.monotonic() - t0 < 0.9
        answer = _read_all(stalled)  # the body never comes: 408, then the connection closes
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert 0.9 < time.monotonic() - t0 < 5
        stalled.close()
    finally:
        hub.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_idle_connection_before_any_request_is_closed(tmp_path: Path) -> None:
    hub = HubFixture(tmp_path, limits=Limits(idle_timeout=0.3)).start()
    try:
        sock = _connect(hub.url)
        t0 = time.monotonic()
        assert _read_all(sock) == b""
        assert 0.2 < time.monotonic() - t0 < 3
        sock.close()
    finally:
        hub.stop()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubFixture]:
    srv = HubFixture(tmp_path).start()
    yield srv  # type: ignore[misc]
    srv.stop()


def test_continue_is_sent_when_the_body_is_wanted(hub: HubFixture) -> None:
    sock = _connect(hub.url)
    body = b'{"content": "a: 1"}'
    head = (
        "POST /api/validate-yaml HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode())
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(body)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    sock.close()


def test_pipelined_requests_are_answered_in_order(hub: HubFixture) -> None:
    hub.seed_repo("alice/m", {"a.txt": "first", "b.txt": "second"})
    sock = _connect(hub.url)
    req = "GET /alice/m/resolve/main/{} HTTP/1.1\r\nHost: x\r\n{}\r\n"
    sock.sendall((req.format("a.txt", "") + req.format("b.txt", "Connection: close\r\n")).encode())
    data = _read_all(sock)
    sock.close()
    assert data.count(b"HTTP/1.1 200 ") == 2
    assert data.index(b"first") < data.index(b"second")


def test_fail_knob_cuts_the_body_without_an_error_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    hub = HubFixture(tmp_path, fail_rate=1.0, seed=3).start()
    try:
        data = bytes(range(256)) * 4096  # 1 MiB
        hub.seed_repo("alice/m", {"w.txt": data})
        sock = _connect(hub.url)
        sock.sendall(b"GET /alice/m/resolve/main/w.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_all(sock)
        sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 1048576" in head.lower()
        assert 0.2 * len(data) <= len(body) < 0.8 * len(data) + 1
        assert body == data[: len(body)]
        deadline = time.monotonic() + 5
        while not hub.requests() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hub.requests()[-1]["bytes"] == len(body)
    finally:
        hub.stop()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ASGI" not in err, err


def test_cli_start_up_does_not_import_the_server_stack() -> None:
    code = (
        "import sys, json\n"
        "from hubcli.cli import app as a\n"
        "cmd = a.typer.main.get_command(a.build_app(['serve', '--help']))\n"
        "try:\n"
        "    cmd.main(args=['serve', '--help'], prog_name='hubcli', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "import hubcli.server\n"
        "hubcli.server.HubServer().stop()\n"  # built, never started: nothing served
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(proc.stderr))
    assert "--max-connections" in proc.stdout
    assert not loaded & {"uvicorn", "uvloop", "httptools"}
