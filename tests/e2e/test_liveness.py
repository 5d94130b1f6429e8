"""Liveness against hostile servers: every mode ends with exit 5 within a bounded time.

A tiny purpose-built hub (one LFS file, one listing) misbehaves in one way per test: it ignores
``Range`` and drops, trickles a body, a JSON answer or the headers at a few bytes a second, sends
half of what is left and stalls, or asks to wait a day. Windows are scaled down
(``HUBCLI_STALL_WINDOW=0.5``) so the suite stays fast; benchmarks/bench_liveness.py runs the slowest
modes with the default settings.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CONTENT = bytes(range(256)) * 5  # 1280 bytes: the "1.2 KB file" of the report
SHA256 = hashlib.sha256(CONTENT).hexdigest()
BLOB = hashlib.sha1(b"blob 130\0" + b"p" * 130).hexdigest()
COMMIT = "c" * 40
REPO = "alice/m"
FAST = {"HUBCLI_STALL_WINDOW": "0.5", "HUBCLI_METADATA_TIMEOUT": "5"}


def listing_body() -> bytes:
    sib = {
        "rfilename": "w.bin",
        "size": len(CONTENT),
        "blobId": BLOB,
        "lfs": {"sha256": SHA256, "size": len(CONTENT), "pointerSize": 130},
    }
    return json.dumps({"id": REPO, "sha": COMMIT, "siblings": [sib]}).encode()


Handler = Callable[["HostileHandler"], None]


class HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.log.append((time.monotonic(), self.path, self.headers.get("Range")))
        kind = "listing" if self.path.startswith("/api/") else "resolve"
        try:
            srv.modes.get(kind, normal)(self)
        except OSError:
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass

    # -- building blocks ----------------------------------------------------------------------
    def head(self, status: int, length: int, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", f'"{SHA256}"')
        self.send_header("X-Repo-Commit", COMMIT)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def trickle(self, data: bytes, every: float) -> None:
        for i in range(len(data)):
            if self.server.stop.wait(every):
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()

    def stall(self) -> None:
        self.wfile.flush()
        self.server.stop.wait(600)
        self.close_connection = True

    def range_start(self) -> int:
        m = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
        return int(m.group(1)) if m else 0


def normal(h: HostileHandler) -> None:
    if h.path.startswith("/api/"):
        body = listing_body()
        h.head(200, len(body), {"Content-Type": "application/json"})
        h.wfile.write(body)
        return
    start = h.range_start()
    if start:
        cr = f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"
        h.head(206, len(CONTENT) - start, {"Content-Range": cr})
    else:
        h.head(200, len(CONTENT))
    h.wfile.write(CONTENT[start:])


def range_ignored_drop(h: HostileHandler) -> None:
    """200 with the whole length every time, 100 bytes, then the connection drops."""
    h.head(200, len(CONTENT))
    h.wfile.write(CONTENT[:100])
    h.wfile.flush()
    h.close_connection = True


def trickle_body(every: float = 0.05) -> Handler:
    """The file, one byte every ``every`` seconds."""

    def answer(h: HostileHandler) -> None:
        h.head(200, len(CONTENT))
        h.trickle(CONTENT, every)

    return answer


def trickle_json(every: float = 0.05) -> Handler:
    """The listing, one byte every ``every`` seconds."""

    def answer(h: HostileHandler) -> None:
        body = listing_body()
        h.head(200, len(body), {"Content-Type": "application/json"})
        h.trickle(body, every)

    return answer


def trickle_headers(every: float = 0.05) -> Handler:
    """The status line and headers, one byte every ``every`` seconds."""

    def answer(h: HostileHandler) -> None:
        h.close_connection = True
        h.trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000, every)

    return answer


def halving(h: HostileHandler) -> None:
    """Half of what is left (properly as a 206 when asked), then silence."""
    start = h.range_start()
    left = len(CONTENT) - start
    if start:
        cr = f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"
        h.head(206, left, {"Content-Range": cr})
    else:
        h.head(200, left)
    h.wfile.write(CONTENT[start : start + max(1, left // 2)])
    h.stall()


def too_many(headers: dict[str, str]) -> Handler:
    def answer(h: HostileHandler) -> None:
        h.head(429, 0, headers)

    return answer


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, modes: dict[str, Handler]) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.modes = modes
        self.log: list[tuple[float, str, str | None]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def calls(self, kind: str) -> list[tuple[float, str, str | None]]:
        with self.lock:
            return [c for c in self.log if c[1].startswith("/api/") == (kind == "listing")]

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostileServer]]:
    servers: list[HostileServer] = []

    def start(**modes: Handler) -> HostileServer:
        srv = HostileServer(modes).__enter__()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.__exit__()


def run_download(
    run_cli: Any, srv: HostileServer, cache: Path, timeout: float = 60, **env: str
) -> tuple[Any, float]:
    full = {"HF_ENDPOINT": srv.url, "HF_HUB_CACHE": str(cache), **FAST, **env}
    t0 = time.monotonic()
    res = run_cli("download", REPO, env=full, timeout=timeout)
    return res, time.monotonic() - t0


def assert_nothing_visible(cache: Path) -> None:
    repo = cache / "models--alice--m"
    snaps = [p for p in (repo / "snapshots").rglob("*") if p.is_file() or p.is_symlink()]
    assert snaps == []
    blobs = [p for p in (repo / "blobs").glob("*") if not p.name.endswith(".incomplete")]
    assert blobs == []


def assert_one_error_line(res: Any) -> None:
    assert res.stderr.startswith("error:") and "Traceback" not in res.stderr, res


# -- the hostile modes ---------------------------------------------------------------------------
def test_range_ignored_and_drop_ends_within_few_requests(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    srv = hostile(resolve=range_ignored_drop)
    res, took = run_download(run_cli, srv, tmp_path / "c")
    assert res.returncode == 5, res
    assert_one_error_line(res)
    assert "without progress" in res.stderr
    # 1 attempt that moved the offset, then 3 that restarted from zero: never hundreds.
    assert len(srv.calls("resolve")) <= 6, srv.calls("resolve")
    assert took < 20
    assert_nothing_visible(tmp_path / "c")


def test_body_at_20_bytes_per_second_is_a_stall(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    srv = hostile(resolve=trickle_body())
    res, took = run_download(run_cli, srv, tmp_path / "c", timeout=30)
    assert res.returncode == 5, res
    assert_one_error_line(res)
    assert "stalled" in res.stderr
    assert took < 10  # window 0.5 s, then two short attempts
    assert_nothing_visible(tmp_path / "c")


def test_json_answer_at_20_bytes_per_second_is_a_stall(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    srv = hostile(listing=trickle_json())
    res, took = run_download(run_cli, srv, tmp_path / "c", timeout=30)
    assert res.returncode == 5, res
    assert_one_error_line(res)
    assert took < 10
    assert srv.calls("resolve") == []


def test_json_answer_above_the_stall_rate_still_meets_the_deadline(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    srv = hostile(listing=trickle_json())
    env = {
        "HF_ENDPOINT": srv.url,
        **FAST,
        "HUBCLI_STALL_MIN_RATE": "1",
        "HUBCLI_METADATA_TIMEOUT": "1.5",
    }
    t0 = time.monotonic()
    res = run_cli("info", REPO, env=env, timeout=30)
    took = time.monotonic() - t0
    assert res.returncode == 5, res
    assert "no complete answer within 1.5 s" in res.stderr
    assert took < 8


def test_headers_trickled_are_cut(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    srv = hostile(listing=trickle_headers())
    res, took = run_download(run_cli, srv, tmp_path / "c", timeout=30)
    assert res.returncode == 5, res
    assert_one_error_line(res)
    assert took < 10


def test_halving_then_stall_ends_quickly(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    srv = hostile(resolve=halving)
    res, took = run_download(run_cli, srv, tmp_path / "c", timeout=30)
    assert res.returncode == 5, res
    assert_one_error_line(res)
    assert "stalled" in res.stderr
    assert took < 10
    assert len(srv.calls("resolve")) <= 6
    assert_nothing_visible(tmp_path / "c")


@pytest.mark.parametrize("kind", ["listing", "resolve"])
def test_retry_after_a_day_fails_at_once_and_says_so(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path, kind: str
) -> None:
    srv = hostile(**{kind: too_many({"Retry-After": "86400"})})
    res, took = run_download(run_cli, srv, tmp_path / "c")
    assert res.returncode == 5, res
    assert_one_error_line(res)
    assert "24 h (86400 s)" in res.stderr and "HUBCLI_MAX_RETRY_WAIT" in res.stderr
    assert len(srv.calls(kind)) == 1
    assert took < 5
    assert_nothing_visible(tmp_path / "c")


def test_ratelimit_header_over_the_cap_fails_at_once(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    limited = too_many(
        {
            "RateLimit": '"resolvers";r=0;t=87',
            "RateLimit-Policy": '"fixed window";"resolvers";q=3000;w=300',
        }
    )
    srv = hostile(listing=limited)
    res, took = run_download(run_cli, srv, tmp_path / "c", HUBCLI_MAX_RETRY_WAIT="60")
    assert res.returncode == 5, res
    assert "87 s" in res.stderr
    assert len(srv.calls("listing")) == 1 and took < 5


def test_short_rate_limit_waits_then_succeeds(
    hostile: Callable[..., HostileServer], run_cli: Any, tmp_path: Path
) -> None:
    answered: list[int] = []

    def once_limited(h: HostileHandler) -> None:
        answered.append(1)
        if len(answered) == 1:
            too_many({"RateLimit": '"api";r=0;t=1', "Retry-After": "0"})(h)
        else:
            normal(h)

    srv = hostile(listing=once_limited)
    res, _ = run_download(run_cli, srv, tmp_path / "c")
    assert res.returncode == 0, res
    (first, *_), (second, *_) = srv.calls("listing")
    assert second - first >= 0.9  # the larger of the two asked waits (1 s), not Retry-After: 0
    snap = tmp_path / "c" / "models--alice--m" / "snapshots" / COMMIT / "w.bin"
    assert snap.read_bytes() == CONTENT
