"""One parsed request as the endpoints see it: method, raw path segments, query, headers, the
caller (from the token), origins, and the body read at most once, as it arrives (sized or chunked,
capped, paced, memory reserved from the shared budget). The transport has removed the framing
(Content-Length or chunked, parsed by httptools) and sends ``100 Continue`` on the first read.

The raw request path is split on ``/`` *before* percent-decoding each segment, so ``%2F`` inside a
revision or path segment never changes the routing. A ``Request`` is built from plain values
(method, target, headers, a body reader), not from a server object.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, unquote

from hubcli.server.response import ApiError
from hubcli.server.state import HubState

_LENGTH_RE = re.compile(r"[0-9]{1,18}")


class BodyReader(Protocol):
    """Where a request body is read from: its bytes without framing, ``b""`` at the end (a body
    cut short raises ``ApiError`` rather than ending early)."""

    def read(self, size: int = ..., /) -> bytes: ...


class Request:
    """Parsed view of one request, handed to the routes."""

    def __init__(
        self,
        *,
        method: str,
        target: str,
        headers: Message,
        version: str,
        rfile: BodyReader,
        state: HubState,
        is_cdn: bool,
    ) -> None:
        """Parse the request line's ``target`` and the framing headers (400 when malformed, a
        second line of defence behind the transport's parser); the body is read later from
        ``rfile``."""
        self.method = method
        raw_path, _, query = target.partition("?")
        self.raw_path = raw_path
        self.query_string = query
        self.query: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
        raw_segs = raw_path.split("/")[1:]
        if raw_segs and raw_segs[-1] == "" and len(raw_segs) > 1:
            raw_segs = raw_segs[:-1]
        self.segments = [unquote(s) for s in raw_segs]
        self.headers = headers
        self.state = state
        self.is_cdn = is_cdn
        self.rfile = rfile
        # set when the connection must not be reused (body left unread, refused, cut off)
        self.close_connection = False
        self._user_checked = False
        self._user: str | None = None
        self._body_state = "unread"  # -> "reading" -> "done"
        self.reserved = 0  # bytes of the shared body budget held by this request
        self.chunked, self.length = _framing(headers)
        expect = (self.headers.get("Expect") or "").strip().lower()
        self._expects_continue = expect == "100-continue" and version != "HTTP/1.0"

    # ------------------------------------------------------------------ query / auth
    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qbool(self, name: str) -> bool:
        return (self.q(name) or "").lower() in ("1", "true", "yes")

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value.strip() else auth.strip()

    @property
    def user(self) -> str | None:
        """The authenticated user, None without a token; an unknown token is a 401."""
        if not self._user_checked:
            tok = self.token
            self._user_checked = True
            if tok is not None:
                user = self.state.tokens.get(tok)
                if user is None:
                    raise ApiError(401, "Invalid credentials in Authorization header")
                self._user = user
        return self._user

    def authenticate_as(self, user: str) -> None:
        """Set the caller found by other means than a token (a web page's session cookie)."""
        self._user_checked = True
        self._user = user

    def origin(self) -> str:
        host = self.headers.get("Host")
        return f"{self.state.scheme}://{host}" if host else self.api_origin()

    def api_origin(self) -> str:
        return self.state.origin_for(self.headers.get("Host"), cdn=False)

    def cdn_origin(self) -> str:
        return self.state.origin_for(self.headers.get("Host"), cdn=True)

    # ------------------------------------------------------------------ bodies
    # A body is read at most once, as it arrives: ``iter_body`` / ``iter_lines`` stream it with a
    # total cap, ``body`` / ``json_body`` buffer it (cap checked against Content-Length before
    # reading, memory reserved from the shared budget). ``drain`` makes the connection reusable or
    # closes it when a body was left unread or half read.

    def reserve(self, n: int) -> None:
        """Reserve ``n`` bytes of the shared body budget until the request ends (503 if busy)."""
        got = self.state.budget.acquire(n, self.state.limits.budget_wait)
        if got < 0:
            self.close_connection = True
            raise ApiError(503, "Server busy with large request bodies", None, {"Retry-After": "1"})
        self.reserved += got

    def release(self) -> None:
        self.state.budget.release(self.reserved)
        self.reserved = 0

    def too_large(self, cap: int, what: str = "Request body") -> ApiError:
        self.close_connection = True
        return ApiError(413, f"{what} too large (limit {cap} bytes)")

    def expect_at_most(self, cap: int) -> None:
        """413 before reading anything when the declared Content-Length is over ``cap``."""
        if self.length is not None and self.length > cap:
            raise self.too_large(cap)

    def iter_body(self, bufsize: int = 1 << 20, limit: int | None = None) -> Iterator[bytes]:
        """Yield the request body in pieces (Content-Length or chunked), 413 past ``limit`` bytes,
        paced to the ``upload_bandwidth_mbps`` knob when it is set (like an object store's
        per-connection throughput)."""
        rate = self.state.knobs.upload_bandwidth_mbps * 1_000_000
        if rate <= 0:
            yield from self._iter_body(bufsize, limit)
            return
        start, got = time.monotonic(), 0
        for buf in self._iter_body(max(16 * 1024, min(bufsize, int(rate / 20))), limit):
            got += len(buf)
            ahead = got / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            yield buf

    def _iter_body(self, bufsize: int, limit: int | None) -> Iterator[bytes]:
        if self._body_state != "unread":
            raise ApiError(500, "The request body was already read")
        if limit is not None:
            self.expect_at_most(limit)
        self._body_state = "reading"
        self._expects_continue = False  # the transport answers it on the first read
        total = 0
        while buf := self.rfile.read(bufsize):
            total += len(buf)
            if limit is not None and total > limit:
                raise self.too_large(limit)
            yield buf
        self._body_state = "done"

    def iter_lines(self, line_cap: int, limit: int) -> Iterator[bytes]:
        """Yield the body's ``\\n``-separated lines (without the ``\\n``) as they arrive; 413 for
        a line longer than ``line_cap`` or a body longer than ``limit``."""
        buf = bytearray()
        for piece in self.iter_body(limit=limit):
            scanned = len(buf)  # the bytes before this piece hold no newline
            buf += piece
            start = 0
            while (nl := buf.find(b"\n", max(start, scanned))) >= 0:
                if nl - start > line_cap:
                    raise self.too_large(line_cap, "Commit line")
                yield bytes(buf[start:nl])
                start = nl + 1
            if start:
                del buf[:start]
            if len(buf) > line_cap:
                raise self.too_large(line_cap, "Commit line")
        if buf:
            yield bytes(buf)

    def body(self, limit: int | None = None) -> bytes:
        """The whole body, at most ``limit`` bytes (default: the ``max_json`` limit)."""
        cap = self.state.limits.max_json if limit is None else limit
        self.expect_at_most(cap)
        self.reserve(cap if self.length is None else self.length)
        return b"".join(self.iter_body(limit=cap))

    def json_body(self, limit: int | None = None) -> Any:
        raw = self.body(limit)
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ApiError(400, f"Invalid JSON body: {e}") from None

    def body_to_file(self, fh: BinaryIO, limit: int | None = None) -> tuple[int, str]:
        """Stream the body into ``fh`` (413 past ``limit`` bytes); return (size, sha256)."""
        h = hashlib.sha256()
        n = 0
        for buf in self.iter_body(limit=limit):
            h.update(buf)
            fh.write(buf)
            n += len(buf)
        return n, h.hexdigest()

    def drain(self) -> None:
        """Leave an unread small body to the transport (it discards it); close the connection
        when the rest of a body is unknown (half read, chunked, large, or never sent because
        100-continue was not answered)."""
        if self._body_state == "done":
            return
        unread = self._body_state == "unread"
        length = self.length or 0
        if not unread or self.chunked or length > 1 << 20 or self._expects_continue:
            self.close_connection = True
        self._body_state = "done"


def _framing(headers: Message) -> tuple[bool, int | None]:
    """(chunked, Content-Length) of a request; 400 for a malformed, negative, conflicting or
    ambiguous length (both headers), or a transfer coding other than chunked."""
    codings = [v.strip().lower() for v in headers.get_all("Transfer-Encoding") or []]
    lengths = [v.strip() for v in headers.get_all("Content-Length") or []]
    if codings:
        if codings != ["chunked"]:
            raise ApiError(400, "Unsupported Transfer-Encoding")
        if lengths:
            raise ApiError(400, "Content-Length and Transfer-Encoding together")
        return True, None
    if not lengths:
        return False, None
    if len(set(lengths)) != 1 or not _LENGTH_RE.fullmatch(lengths[0]):
        raise ApiError(400, "Invalid Content-Length")
    return False, int(lengths[0])
