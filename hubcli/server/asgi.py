"""The HTTP layer of the local hub as an ASGI app: each request's scope becomes a ``Request``, the
router it was handed answers it in a bounded pool of worker threads (endpoints block on disk,
hashing and, in a mirror, upstream fetches; the event loop never does), and the ``Response`` goes
back streamed: files in chunks read by the workers, never whole in memory, paced by the
bandwidth knob, cut mid-body by the failure knob. Every request is logged once its answer is sent.

It never imports the router or the endpoints, nor the server that runs it (``uvserver``): the
connection it may cut comes in the scope's ``hubcli.conn`` extension. See docs/server.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import time
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable, MutableMapping
from concurrent.futures import Executor
from email.message import Message
from typing import Any, Protocol

from hubcli.server.asgi_body import BodyBridge, Receive
from hubcli.server.ids import StorageError
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response, error_response
from hubcli.server.state import HubState

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Router = Callable[[Request], Response]
"""What the HTTP layer is handed: one request in, one answer out (or ``ApiError`` raised)."""

SERVER = b"hubcli-serve/0.1"
CHUNK = 1 << 20  # bytes of a file answer read (by a worker, one ahead) and sent at a time
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SMALL_FILE = 256 * 1024  # file answers up to this size are read in one go


class Connection(Protocol):
    """What the app may do to the connection a request came on (the ``hubcli.conn`` extension)."""

    def cut(self) -> None:
        """Close the connection once what was sent is flushed (a failure injected mid-body)."""

    def closing(self) -> bool:
        """The connection is gone or going: stop sending."""


class HubAsgi:
    """The ASGI app over the hub's router (``http`` scopes only; run with lifespan off)."""

    def __init__(self, state: HubState, route: Router, pool: Executor) -> None:
        self.state = state
        self.route = route
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.time()
        loop = asyncio.get_running_loop()
        headers = Message()
        for k, v in scope["headers"]:
            headers[k.decode("latin-1")] = v.decode("latin-1")
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        server = scope.get("server") or ("", None)
        is_cdn = server[1] == self.state.cdn_port
        method = scope["method"]
        self.state.log.begin()
        try:
            await self._serve(scope, receive, send, started, loop, headers, target, is_cdn, method)
        finally:
            self.state.log.end()

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
        loop: asyncio.AbstractEventLoop,
        headers: Message,
        target: str,
        is_cdn: bool,
        method: str,
    ) -> None:
        body = BodyBridge(loop, receive, self.state.limits.idle_timeout)
        knobs = self.state.knobs
        if knobs.latency_ms > 0:
            await asyncio.sleep(knobs.latency_ms / 1000.0)
        resp, close, fd = await loop.run_in_executor(
            self.pool,
            self._answer,
            method,
            target,
            headers,
            "HTTP/" + scope["http_version"],
            body,
            is_cdn,
        )
        conn: Connection | None = scope.get("extensions", {}).get("hubcli.conn", {}).get("conn")
        try:
            sent = await self._send(send, receive, conn, method, resp, close, fd)
        finally:
            if fd >= 0:
                os.close(fd)
        self.state.log.add(
            {
                "t": round(time.time(), 3),
                "t0": round(started, 3),  # when the request's head arrived
                "origin": "cdn" if is_cdn else "api",
                "method": method,
                "path": target,
                "status": resp.status,
                "bytes": sent,
                "range": headers.get("Range"),
                "auth": bool(headers.get("Authorization")),
                "user_agent": headers.get("User-Agent"),
                "download_counter": headers.get("X-HF-Download-Counter"),
            }
        )

    # ------------------------------------------------------------------ in a worker thread
    def _answer(
        self,
        method: str,
        target: str,
        headers: Message,
        version: str,
        body: BodyBridge,
        is_cdn: bool,
    ) -> tuple[Response, bool, int]:
        """The router's answer (errors as their JSON answers), whether to close after it, and the
        open file of a large file answer (-1: none; a small file's bytes are read here)."""
        resp, close = self._route(method, target, headers, version, body, is_cdn)
        fd = -1
        if resp.file_path is not None and method != "HEAD" and resp.length > 0:
            try:
                fd = os.open(resp.file_path, os.O_RDONLY)
                if resp.length <= SMALL_FILE:
                    data = os.pread(fd, resp.length, resp.file_offset)
                    os.close(fd)
                    fd = -1
                    resp = dataclasses.replace(resp, body=data, file_path=None)
            except OSError:  # the blob went away between the answer and now
                if fd >= 0:
                    os.close(fd)
                return error_response(404, "Blob not found"), True, -1
        return resp, close, fd

    def _route(
        self,
        method: str,
        target: str,
        headers: Message,
        version: str,
        body: BodyBridge,
        is_cdn: bool,
    ) -> tuple[Response, bool]:
        """The router's answer (errors as their JSON answers) and whether to close after it."""
        req: Request | None = None
        try:
            req = Request(
                method=method,
                target=target,
                headers=headers,
                version=version,
                rfile=body,
                state=self.state,
                is_cdn=is_cdn,
            )
            resp = self.route(req)
        except ApiError as e:
            resp = error_response(e.status, e.message, e.code, e.headers)
        except StorageError as e:
            resp = error_response(e.status, e.message, e.code)
        except Exception:  # pragma: no cover - bug safety net
            traceback.print_exc()
            resp = error_response(500, "Internal error")
        if req is None:
            return resp, True  # the request's framing is unknown: never reuse
        req.release()
        try:
            req.drain()
        except Exception:
            return resp, True
        return resp, req.close_connection

    # ------------------------------------------------------------------ on the event loop
    async def _send(
        self,
        send: Send,
        receive: Receive,
        conn: Connection | None,
        method: str,
        resp: Response,
        close: bool,
        fd: int,
    ) -> int:
        """Send ``resp`` (a file answer from ``fd``); return the body bytes sent."""
        length = resp.length
        hdrs = [(b"server", SERVER), (b"content-length", str(length).encode())]
        hdrs += [(_header(k).lower(), _header(v)) for k, v in resp.headers.items()]
        if close:
            hdrs.append((b"connection", b"close"))
        knobs = self.state.knobs
        fail_at: int | None = None
        if method != "HEAD" and resp.can_fail and length > 0 and knobs.should_fail():
            fail_at = knobs.fail_point(length)
        await send({"type": "http.response.start", "status": resp.status, "headers": hdrs})
        if method == "HEAD" or length == 0:
            await send({"type": "http.response.body", "body": b""})
            if resp.stream is not None:
                await self._close_stream(resp.stream)
            return 0
        if resp.stream is not None:
            return await self._send_stream(send, receive, conn, resp.stream, length)
        if fail_at is None and fd < 0 and knobs.bandwidth_mbps <= 0:
            await send({"type": "http.response.body", "body": resp.body})
            return length
        count = length if fail_at is None else fail_at
        sent = 0
        pieces = self._pieces(resp, fd, count, knobs.bandwidth_mbps)
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                sent += len(piece)
                more = sent < length
                await send({"type": "http.response.body", "body": piece, "more_body": more})
                if conn is not None and conn.closing():
                    return sent
        if sent < length:  # the failure knob, or a file that shrank
            await _cut(receive, conn, self.state.limits.idle_timeout)
        return sent

    async def _send_stream(
        self, send: Send, receive: Receive, conn: Connection | None, stream: Any, length: int
    ) -> int:
        """Send ``length`` bytes pulled from ``stream`` (each piece produced in a worker thread:
        it may block on a fill in progress); an error or a short stream cuts the connection."""
        loop = asyncio.get_running_loop()
        it = iter(stream)
        sent = 0
        try:
            while sent < length:
                try:
                    piece = await loop.run_in_executor(self.pool, next, it, b"")
                except Exception:
                    break
                if not piece:
                    break
                piece = piece[: length - sent]
                sent += len(piece)
                more = sent < length
                await send({"type": "http.response.body", "body": piece, "more_body": more})
                if conn is not None and conn.closing():
                    return sent
        finally:
            await self._close_stream(it)
        if sent < length:
            await _cut(receive, conn, self.state.limits.idle_timeout)
        return sent

    async def _close_stream(self, stream: Any) -> None:
        close = getattr(stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(self.pool, close)

    async def _pieces(
        self, resp: Response, fd: int, count: int, bandwidth_mbps: float
    ) -> AsyncGenerator[bytes | bytearray, None]:
        """The first ``count`` body bytes (from ``fd`` for a file), in pieces, paced to
        ``bandwidth_mbps`` (0: no pace)."""
        rate = bandwidth_mbps * 1_000_000
        step = CHUNK if rate <= 0 else max(16 * 1024, min(CHUNK, int(rate / 20)))
        start, done = time.monotonic(), 0
        pieces: AsyncGenerator[bytes | bytearray, None]
        if fd >= 0:
            pieces = self._file_pieces(fd, resp.file_offset, count, step)
        else:
            pieces = _slices(resp.body, count, step)
        async with contextlib.aclosing(pieces):
            async for piece in pieces:
                done += len(piece)
                yield piece
                if rate > 0:
                    ahead = done / rate - (time.monotonic() - start)
                    if ahead > 0:
                        await asyncio.sleep(ahead)

    async def _file_pieces(
        self, fd: int, offset: int, count: int, step: int
    ) -> AsyncGenerator[bytes | bytearray, None]:
        """``count`` bytes of ``fd`` from ``offset``, read by the workers one piece ahead of the
        piece being sent (a thread hop per piece costs less when it overlaps the sending). The
        buffers are allocated here, on the loop thread: allocations in the workers would grow a
        malloc arena per thread. Ends early (short) if the file shrank."""
        loop = asyncio.get_running_loop()

        def read(pos: int) -> tuple[bytearray, asyncio.Future[int]]:
            buf = bytearray(min(step, count - pos))
            return buf, loop.run_in_executor(self.pool, os.preadv, fd, [buf], offset + pos)

        pos = 0
        ahead: tuple[bytearray, asyncio.Future[int]] | None = read(0)
        try:
            while ahead is not None:
                buf, fut = ahead
                ahead = None
                got = await fut
                if got <= 0:
                    return
                pos += got
                if pos < count:
                    ahead = read(pos)
                if got < len(buf):
                    del buf[got:]
                yield buf
        finally:
            if ahead is not None:  # never leave a read of ``fd`` behind: the caller closes it
                with contextlib.suppress(OSError):
                    await ahead[1]


async def _slices(body: bytes, count: int, step: int) -> AsyncGenerator[bytes | bytearray, None]:
    for i in range(0, count, step):
        yield body[i : min(count, i + step)]


async def _cut(receive: Receive, conn: Connection | None, timeout: float) -> None:
    """Cut the connection mid-body (the failure knob) and wait until it is gone, so that the
    server sees a disconnected client rather than an app that stopped half way."""
    if conn is None:
        return
    conn.cut()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnect(receive), timeout)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _header(text: str) -> bytes:
    """A header name or value as bytes: latin-1, control characters replaced (no injection)."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    return text.encode("latin-1", "replace")
