"""Fixtures of the object-store tests: an S3-compatible server (moto's standalone server on a
free loopback port, or the endpoint of ``HUBCLI_TEST_S3_ENDPOINT`` -- MinIO, Ceph -- with the
usual AWS_* credentials) behind a recording proxy, a fresh bucket per test, and ``hubcli serve
--storage s3://...`` replicas (real processes, or in-process ``HubServer`` s for speed)."""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hubcli.server import HubServer
from hubcli.server.store import open_storage, parse_storage_url

TOKENS = {"hf_alice_token": "alice", "hf_bob_token": "bob"}
ENV_ENDPOINT = "HUBCLI_TEST_S3_ENDPOINT"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class ObjectStore:
    """The S3 endpoint the replicas and clients use (the proxy), and what it saw."""

    url: str
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # moto checks a conditional write's precondition (If-Match / If-None-Match) and stores the
    # object in two unlocked steps, so two replicas' racing compare-and-swaps can both win there;
    # S3, MinIO and Ceph decide them atomically. The proxy runs writes one at a time so the tests
    # exercise hubcli's compare-and-swap, not moto's race (part uploads stay concurrent).
    writes: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        cfg = Config(s3={"addressing_style": "path"})
        return boto3.session.Session().client("s3", endpoint_url=self.url, config=cfg)

    def new_bucket(self) -> str:
        name = f"hubcli-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name


def _relay(h: BaseHTTPRequestHandler, r: http.client.HTTPResponse, data: bytes) -> None:
    """Send an upstream answer (read whole) back to the client of a relaying handler."""
    h.send_response_only(r.status, r.reason)
    for k, v in r.getheaders():
        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
            h.send_header(k, v)
    length = r.getheader("Content-Length") if h.command == "HEAD" else None
    h.send_header("Content-Length", length or str(len(data)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(data)


class _Proxy(BaseHTTPRequestHandler):
    """Forwards every request to the object store, recording its method, path and headers."""

    protocol_version = "HTTP/1.1"
    store: ObjectStore
    upstream: tuple[str, int]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        headers = {k: v for k, v in self.headers.items()}
        with self.store.lock:
            self.store.seen.append(Seen(self.command, self.path, headers))
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        writes = self.command in ("PUT", "POST", "DELETE") and "partNumber=" not in self.path
        with self.store.writes if writes else contextlib.nullcontext():
            conn = http.client.HTTPConnection(*self.upstream, timeout=60)
            fwd = {k: v for k, v in headers.items() if k.lower() not in ("connection",)}
            conn.request(self.command, self.path, body=body, headers=fwd)
            r = conn.getresponse()
            data = r.read()
        _relay(self, r, data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any


@pytest.fixture(scope="session")
def object_store() -> Iterator[ObjectStore]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    moto = None
    endpoint = os.environ.get(ENV_ENDPOINT)
    if not endpoint:
        from moto.server import ThreadedMotoServer

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, port = moto.get_host_and_port()
        upstream = (host, port)
    else:
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
    store = ObjectStore("")
    handler = type("Proxy", (_Proxy,), {"store": store, "upstream": upstream})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    proxy.daemon_threads = True
    store.url = f"http://127.0.0.1:{proxy.server_address[1]}"
    t = threading.Thread(target=proxy.serve_forever, daemon=True)
    t.start()
    yield store
    proxy.shutdown()
    proxy.server_close()
    if moto is not None:
        moto.stop()


@pytest.fixture
def bucket(object_store: ObjectStore) -> str:
    return object_store.new_bucket()


@pytest.fixture
def replica_factory(object_store: ObjectStore, bucket: str) -> Iterator[Callable[..., HubServer]]:
    """In-process replicas on ``s3://<bucket>/hub`` (each its own store object and caches)."""
    made: list[HubServer] = []

    def factory(*, presign: bool = False, **knobs: Any) -> HubServer:
        store = open_storage(
            parse_storage_url(f"s3://{bucket}/hub"), s3_endpoint=object_store.url, presign=presign
        )
        srv = HubServer(storage=store, tokens=dict(TOKENS), **knobs)
        srv.start()
        made.append(srv)
        return srv

    yield factory
    for srv in made:
        srv.stop()


@dataclass
class Replica:
    url: str
    proc: subprocess.Popen[str]


@pytest.fixture
def serve_replicas(
    object_store: ObjectStore, bucket: str, tmp_path: Path
) -> Iterator[Callable[..., list[Replica]]]:
    """``hubcli serve --storage s3://<bucket>/hub`` processes sharing one secret file."""
    procs: list[subprocess.Popen[str]] = []
    secret = tmp_path / "secret"

    def start(n: int, *extra: str) -> list[Replica]:
        exe = Path(sys.executable).with_name("hubcli")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hubcli.cli.app"]
        cmd += ["serve", "--storage", f"s3://{bucket}/hub", "--s3-endpoint", object_store.url]
        cmd += ["--secret-file", str(secret), *extra]
        for tok, user in TOKENS.items():
            cmd += ["--token", f"{tok}:{user}"]
        started = []
        for _ in range(n):
            p = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
            )
            procs.append(p)
            started.append(p)
            if n > 1 and not secret.exists():  # the first creates the shared secret
                _first_line(p)
                started[-1] = p
        out = []
        for p in started:
            line = getattr(p, "_url", None) or _first_line(p)
            out.append(Replica(line, p))
        return out

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def _first_line(p: subprocess.Popen[str]) -> str:
    url = getattr(p, "_url", None)
    if url:
        return str(url)
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if not line.startswith("http"):
        err = p.stderr.read() if p.stderr else ""
        raise AssertionError(f"replica did not start: {line!r}\n{err}")
    p._url = line  # type: ignore[attr-defined]
    return line


@dataclass
class Balancer:
    """A round-robin HTTP load balancer in front of replicas that all listen on the same API
    and CDN ports (each on its own loopback address, as N machines behind one LB would):
    ``api``/``cdn`` are its own URLs on those ports, ``hosts`` the replicas' addresses.
    ``pick(method, path)`` may choose the replica (an index) or return None (round robin);
    ``down`` holds replicas taken out; ``log`` records (replica index, method, path)."""

    api: str
    cdn: str
    ports: tuple[int, int]
    hosts: list[str]
    down: set[int] = field(default_factory=set)
    log: list[tuple[int, str, str]] = field(default_factory=list)
    pick: Callable[[str, str], int | None] = lambda m, p: None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def choose(self, method: str, path: str) -> int:
        with self.lock:
            i = self.pick(method, path)
            if i is None or i in self.down:
                alive = [j for j in range(len(self.hosts)) if j not in self.down]
                i = alive[self._next % len(alive)]
                self._next += 1
            self.log.append((i, method, path))
            return i


class _Balance(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    lb: Balancer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        port = self.server.server_address[1]
        i = self.lb.choose(self.command, self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        conn = http.client.HTTPConnection(self.lb.hosts[i], port, timeout=120)
        fwd = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        try:
            conn.request(self.command, self.path, body=body, headers=fwd)
            r = conn.getresponse()
            data = r.read()
        except OSError:
            self.send_response_only(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        _relay(self, r, data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any


@pytest.fixture
def balanced(
    object_store: ObjectStore, bucket: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[Balancer, list[HubServer]]]]:
    """``balanced(n, presign=..., **knobs)``: n in-process replicas on ``s3://<bucket>/hub``
    (127.0.0.2, 127.0.0.3...) behind a ``Balancer`` on 127.0.0.1, all on the same two ports."""
    servers: list[HubServer] = []
    proxies: list[ThreadingHTTPServer] = []

    def start(n: int, *, presign: bool = False, **knobs: Any) -> tuple[Balancer, list[HubServer]]:
        lb = Balancer("", "", (0, 0), [f"127.0.0.{2 + i}" for i in range(n)])
        handler = type("Balance", (_Balance,), {"lb": lb})
        for _ in range(2):
            p = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            p.daemon_threads = True
            proxies.append(p)
            threading.Thread(target=p.serve_forever, daemon=True).start()
        api, cdn = proxies[-2].server_address[1], proxies[-1].server_address[1]
        lb.ports, lb.api, lb.cdn = (api, cdn), f"http://127.0.0.1:{api}", f"http://127.0.0.1:{cdn}"
        made = []
        for host in lb.hosts:
            store = open_storage(
                parse_storage_url(f"s3://{bucket}/hub"), s3_endpoint=object_store.url,
                presign=presign,
            )  # fmt: skip
            srv = HubServer(
                storage=store, tokens=dict(TOKENS), host=host, port=api, cdn_port=cdn,
                secret_file=tmp_path / "hub.secret", **knobs,
            )  # fmt: skip
            srv.start()
            servers.append(srv)
            made.append(srv)
        return lb, made

    yield start
    for srv in servers:
        srv.stop()
    for p in proxies:
        p.shutdown()
        p.server_close()
