"""What a request handler answers: a ``Response`` value (bytes or a file range), and ``ApiError``,
an error answer raised anywhere below the router (status, ``X-Error-Code``, ``X-Error-Message``).

``ApiError`` is an HTTP answer of the server, not ``hubcli.errors.HubError`` (the client's error
type): the two never meet, the server does not import the client side.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class ApiError(Exception):
    """An HTTP error answer (status, X-Error-Code, X-Error-Message)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass
class Response:
    """One answer: ``body`` bytes, or ``file_count`` bytes of ``file_path`` from ``file_offset``,
    or ``file_count`` bytes pulled from ``stream`` (in worker threads, piece by piece; an exception
    raised by the stream, or a stream that ends short, cuts the connection)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file_path: str | None = None  # body served from a file with sendfile
    file_offset: int = 0
    file_count: int = 0
    can_fail: bool = False  # eligible for --fail-rate injection
    stream: Iterable[bytes] | None = None  # body produced as it is sent (a mirror's fills)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        h = {"Content-Type": "application/json; charset=utf-8"}
        h.update(headers or {})
        return cls(status, body, h)

    @property
    def length(self) -> int:
        """Bytes of the body (Content-Length)."""
        if self.file_path is not None or self.stream is not None:
            return self.file_count
        return len(self.body)


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The JSON error answer the Hub gives: ``{"error": message}`` plus the X-Error-* headers."""
    h = {"X-Error-Message": message.replace("\r", " ").replace("\n", " ")}
    if code:
        h["X-Error-Code"] = code
    h.update(headers or {})
    return Response.json({"error": message}, status, h)
