"""Runs the hub's ASGI app (``asgi.HubAsgi``) on uvicorn with httptools (uvloop where installed):
the API and the CDN listener on one uvicorn server, in a background thread, stopped gracefully.

uvicorn does the HTTP/1.1 work (parsing, framing, keep-alive, pipelining, flow control,
``100 Continue``). ``HubProtocol`` (its httptools protocol, subclassed) adds what the hub promises
on top (docs/server.md, "what it promises"):

* the connection cap shared by both listeners: a connection past ``max_connections`` waits up to
  ``slot_wait`` for a slot (not read meanwhile), then gets **503** ``Retry-After: 1``;
* the idle timeout: a connection silent for ``idle_timeout`` -- before its first request, between
  requests, or not reading its answer -- is closed (a request being answered is not idle);
* bad framing answers the hub's JSON error shape (400, ``{"error": ...}``), not plain text;
* the ``hubcli.conn`` scope extension, through which the app cuts a connection mid-body.

Imported only by ``HubServer.start`` (uvicorn is not loaded on the CLI's start-up path).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hubcli.server.asgi import HubAsgi, Router
from hubcli.server.state import HubState

BUSY = b'{"error":"Server busy: too many connections"}'
BAD = b'{"error":"Invalid HTTP request (framing)"}'


def _answer(status: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nServer: hubcli-serve/0.1\r\nConnection: close\r\n" + extra
    ) + (b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


class Gate:
    """At most ``cap`` connections are served at once (API and CDN together); more wait."""

    def __init__(self, cap: int, wait: float) -> None:
        self.cap = max(1, cap)
        self.wait = wait
        self.open = 0
        self.waiting: deque[HubProtocol] = deque()

    def enter(self, conn: HubProtocol) -> bool:
        if self.open < self.cap and not self.waiting:
            self.open += 1
            return True
        self.waiting.append(conn)
        return False

    def leave(self, conn: HubProtocol, admitted: bool) -> None:
        if not admitted:
            with contextlib.suppress(ValueError):
                self.waiting.remove(conn)
            return
        self.open -= 1
        while self.waiting and self.open < self.cap:
            nxt = self.waiting.popleft()
            if not nxt.transport.is_closing():
                self.open += 1
                nxt.admit()


class HubConfig(uvicorn.Config):
    """uvicorn's config plus what ``HubProtocol`` needs (one gate for both listeners)."""

    gate: Gate
    idle_timeout: float


class HubProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the hub's connection cap, idle timeout, JSON 400s and
    the ``hubcli.conn`` extension (``cut``, ``closing``)."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        cfg = cast(HubConfig, config)
        self.gate = cfg.gate
        self.idle = cfg.idle_timeout
        self.admitted = False
        self.held = b""  # what a waiting connection sent before it was admitted
        self.seen = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.wait_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ connection life
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.seen = self.loop.time()
        self.idle_timer = self.loop.call_later(self.idle, self._check_idle)
        if self.gate.enter(self):
            self.admitted = True
        else:  # not read until a slot frees up
            self.flow.pause_reading()
            self.wait_timer = self.loop.call_later(self.gate.wait, self._refuse)

    def admit(self) -> None:
        if self.wait_timer is not None:
            self.wait_timer.cancel()
            self.wait_timer = None
        self.admitted = True
        self.seen = self.loop.time()
        self.flow.resume_reading()
        held, self.held = self.held, b""
        if held:
            super().data_received(held)

    def _refuse(self) -> None:
        self.wait_timer = None
        self.gate.leave(self, False)
        if not self.transport.is_closing():
            self.transport.write(_answer(b"503 Service Unavailable", BUSY, b"Retry-After: 1\r\n"))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self.idle_timer, self.wait_timer):
            if timer is not None:
                timer.cancel()
        self.idle_timer = self.wait_timer = None
        self.gate.leave(self, self.admitted)
        self.admitted = False
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.seen = self.loop.time()
        if not self.admitted:  # (uvloop starts reading after connection_made: pause again)
            self.held += data
            self.transport.pause_reading()
            self.flow.read_paused = True
            return
        super().data_received(data)

    def resume_writing(self) -> None:
        self.seen = self.loop.time()
        super().resume_writing()

    def _check_idle(self) -> None:
        """Close a connection silent for ``idle`` seconds, unless a request on it is being
        answered (the body reader has its own timeout); abort one that does not read its
        answer."""
        self.idle_timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        left = self.seen + self.idle - now
        if left <= 0:
            cycle = self.cycle
            if self.flow.write_paused:
                self.transport.abort()
                return
            if cycle is None or cycle.response_complete:
                self.transport.close()
                return
            left = self.idle  # answering: look again later
        self.idle_timer = self.loop.call_later(left, self._check_idle)

    # ------------------------------------------------------------------ requests
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"hubcli.conn": {"conn": self}}

    def send_400_response(self, msg: str) -> None:
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:
            self.transport.write(_answer(b"400 Bad Request", BAD))
        self.transport.close()

    # ------------------------------------------------------------------ hubcli.conn
    def cut(self) -> None:
        self.transport.close()

    def closing(self) -> bool:
        return self.transport.is_closing()


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family, kind, proto, _, addr = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class UvicornServer:
    """The API and CDN listeners of one hub, served by uvicorn in a background thread."""

    def __init__(
        self,
        state: HubState,
        route: Router,
        host: str,
        port: int,
        cdn_port: int,
        tls: tuple[str, str] | None = None,  # (cert, key) PEM files: HTTPS on both listeners
    ) -> None:
        self.state = state
        limits = state.limits
        backlog = max(2048, limits.max_connections)
        self.sockets = [_bind(host, port, backlog)]
        try:
            self.sockets.append(_bind(host, cdn_port, backlog))
        except OSError:
            self.sockets[0].close()
            raise
        state.api_port, state.cdn_port = (s.getsockname()[1] for s in self.sockets)
        self.pool = ThreadPoolExecutor(limits.threads(), thread_name_prefix="hubcli-serve")
        config = HubConfig(
            HubAsgi(state, route, self.pool),
            http=HubProtocol,
            loop="auto",
            interface="asgi3",
            lifespan="off",
            ws="none",
            log_config=None,
            log_level="error",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            backlog=backlog,
            timeout_keep_alive=max(1, int(limits.idle_timeout + 0.999)),
            timeout_graceful_shutdown=max(1, int(limits.shutdown_grace)),
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        config.gate = Gate(limits.max_connections, limits.slot_wait)
        config.idle_timeout = limits.idle_timeout
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="hubcli-serve-loop", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {self.error!r}")
            time.sleep(0.005)

    def _run(self) -> None:
        try:
            self.server.run(sockets=self.sockets)
        except BaseException as e:  # reported by start()
            self.error = e

    def stop(self) -> None:
        """Stop accepting, close idle connections, let answers in flight finish (up to the
        shutdown grace), then stop the worker threads."""
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(self.state.limits.shutdown_grace + 10)
        for sock in self.sockets:
            sock.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
