"""hubcli.lock.probe against a loopback server that ignores Range: the head only, then hang up."""

from __future__ import annotations

import http.server
import pickle
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from hubcli.config import resolve_settings
from hubcli.hashing import Sha256
from hubcli.http import HubSession
from hubcli.lock.probe import probe_kinds
from hubcli.models import FileEntry
from hubcli.repo import RepoRef

HUGE = 50 << 30  # 50 GiB announced, generated on the fly
COMMIT = "a" * 40


class _IgnoresRange(http.server.BaseHTTPRequestHandler):
    heads: ClassVar[dict[str, bytes]] = {}
    sent: ClassVar[dict[str, int]] = {}
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        head = self.heads[name]
        self.ranges.append(self.headers.get("Range"))
        self.send_response(200)
        self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        sent = 0
        block = head + b"\0" * ((1 << 20) - len(head))
        try:
            while sent < HUGE:
                self.wfile.write(block)
                sent += len(block)
                block = b"\0" * (1 << 20)
                self.sent[name] = sent
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _IgnoresRange)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _entry(path: str) -> FileEntry:
    return FileEntry(path, HUGE, None, lfs_sha256=Sha256("b" * 64), lfs_size=HUGE)


def test_a_server_ignoring_range_is_read_for_the_head_only(server: str) -> None:
    _IgnoresRange.heads = {
        "model.safetensors": pickle.dumps({"x": 1}, protocol=4)[:-1],  # cut before STOP
        "weights.pt": b"PK\x03\x04" + b"\0" * 100,  # a zip: its end cannot be read
        "pytorch_model.bin": b"\x10\0\0\0\0\0\0\0{}" + b" " * 14,  # safetensors
    }
    _IgnoresRange.sent = {}
    _IgnoresRange.ranges = []
    session = HubSession(resolve_settings(endpoint=server, env={}), max_retries=0)
    fallbacks: list[str] = []
    kinds = probe_kinds(
        session,
        RepoRef("alice/huge", "model"),
        COMMIT,
        [_entry(p) for p in sorted(_IgnoresRange.heads)],
        on_fallback=lambda path, _why: fallbacks.append(path),
    )
    session.close()
    assert kinds == {
        "model.safetensors": ("pickle",),
        "pytorch_model.bin": (),
        "weights.pt": ("pickle",),  # by extension: the zip's directory is out of reach
    }
    assert fallbacks == ["weights.pt"]
    assert _IgnoresRange.ranges.count("bytes=0-4095") == 3
    assert len(_IgnoresRange.ranges) == 4  # the zip's tail asked once, refused, no more
    # the connections were closed after the head: the server got nowhere near 50 GiB
    assert all(n < 256 << 20 for n in _IgnoresRange.sent.values()), _IgnoresRange.sent
