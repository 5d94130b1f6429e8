"""A request body as a blocking reader: the endpoints run in worker threads and read bodies with
``read(n)``; the bytes arrive on the event loop through ASGI ``receive()``. ``BodyBridge`` asks the
loop for the next piece only when the reader needs one, so the transport's flow control (it stops
reading the socket while a piece waits) bounds the memory a body can take, and ``100 Continue``
goes out only when an endpoint first reads (uvicorn sends it on the first ``receive()``).

The transport has already removed the framing (Content-Length or chunked): the reader sees the
body's bytes and ``b""`` at its end. A client that disconnects before the end, or stays silent
for the idle timeout, gets an ``ApiError`` (400 / 408), never a short body taken for a whole one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hubcli.server.response import ApiError

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyBridge:
    """``read(n)`` for a worker thread, fed by the event loop's ``receive()``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive, timeout: float) -> None:
        self._loop = loop
        self._receive = receive
        self._timeout = timeout
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.received = 0  # body bytes handed over by the transport so far

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is buffered for ``size < 0``); ``b""`` at the end."""
        while self._pos >= len(self._buf):
            if self._eof:
                return b""
            self._buf, self._pos = self._next(), 0
        end = len(self._buf) if size < 0 else min(len(self._buf), self._pos + size)
        out = self._buf[self._pos : end]
        self._pos = end
        if self._pos >= len(self._buf):
            self._buf, self._pos = b"", 0
        return out

    def _next(self) -> bytes:
        fut = asyncio.run_coroutine_threadsafe(self._piece(), self._loop)
        try:
            return fut.result(self._timeout + 5)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            fut.cancel()
            raise ApiError(408, "Request body timed out") from None

    async def _piece(self) -> bytes:
        try:
            msg = await asyncio.wait_for(self._receive(), self._timeout)
        except asyncio.TimeoutError:
            raise ApiError(408, "Request body timed out") from None
        if msg["type"] != "http.request":  # http.disconnect: the client went away mid-body
            raise ApiError(400, "Truncated body")
        if not msg.get("more_body", False):
            self._eof = True
        body: bytes = msg.get("body", b"")
        self.received += len(body)
        return body
