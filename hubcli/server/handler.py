"""HTTP plumbing: request parsing (raw path segments, chunked bodies), responses, knobs, logging.

The raw request path is split on ``/`` *before* percent-decoding each segment, so ``%2F`` inside a
revision or path segment never changes the routing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import parse_qs, unquote

from hubcli.server.knobs import send_bytes_throttled, send_file_range
from hubcli.server.storage import StorageError

if TYPE_CHECKING:
    from hubcli.server.app import HubState

MAX_TRAILERS = 100
_LENGTH_RE = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]{1,15}")
SMALL_FILE = 256 * 1024  # bodies up to this size go out in one write with the headers


class HubError(Exception):
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
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    file_path: str | None = None  # body served from a file with sendfile
    file_offset: int = 0
    file_count: int = 0
    can_fail: bool = False  # eligible for --fail-rate injection

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        h = {"Content-Type": "application/json; charset=utf-8"}
        h.update(headers or {})
        return cls(status, body, h)


class Request:
    """Parsed view of one request, handed to the routes."""

    def __init__(self, handler: HubHandler) -> None:
        self.handler = handler
        self.method = handler.command
        raw_path, _, query = handler.path.partition("?")
        self.raw_path = raw_path
        self.query_string = query
        self.query: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
        raw_segs = raw_path.split("/")[1:]
        if raw_segs and raw_segs[-1] == "" and len(raw_segs) > 1:
            raw_segs = raw_segs[:-1]
        self.segments = [unquote(s) for s in raw_segs]
        self.headers = handler.headers
        self.state: HubState = handler.server.hub  # type: ignore[attr-defined]
        self.is_cdn: bool = handler.server.is_cdn  # type: ignore[attr-defined]
        self._user_checked = False
        self._user: str | None = None
        self._body_state = "unread"  # -> "reading" -> "done"
        self.reserved = 0  # bytes of the shared body budget held by this request
        self.chunked, self.length = _framing(handler.headers)
        expect = (self.headers.get("Expect") or "").strip().lower()
        self._expects_continue = expect == "100-continue" and handler.request_version != "HTTP/1.0"

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
                    raise HubError(401, "Invalid credentials in Authorization header")
                self._user = user
        return self._user

    def origin(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.api_origin()

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
            self.handler.close_connection = True
            raise HubError(503, "Server busy with large request bodies", None, {"Retry-After": "1"})
        self.reserved += got

    def release(self) -> None:
        self.state.budget.release(self.reserved)
        self.reserved = 0

    def too_large(self, cap: int, what: str = "Request body") -> HubError:
        self.handler.close_connection = True
        return HubError(413, f"{what} too large (limit {cap} bytes)")

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
            raise HubError(500, "The request body was already read")
        if limit is not None:
            self.expect_at_most(limit)
        self._body_state = "reading"
        self._send_continue()
        total = 0
        for buf in self._chunks(bufsize) if self.chunked else self._sized(bufsize):
            total += len(buf)
            if limit is not None and total > limit:
                raise self.too_large(limit)
            yield buf
        self._body_state = "done"

    def _send_continue(self) -> None:
        """Answer ``Expect: 100-continue`` only once the body is wanted (an oversized one gets its
        413 without the client sending it)."""
        if self._expects_continue:
            self._expects_continue = False
            self.handler.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _sized(self, bufsize: int) -> Iterator[bytes]:
        rfile = self.handler.rfile
        left = self.length or 0
        while left > 0:
            buf = rfile.read(min(bufsize, left))
            if not buf:
                raise HubError(400, "Truncated body")
            left -= len(buf)
            yield buf

    def _chunks(self, bufsize: int) -> Iterator[bytes]:
        rfile = self.handler.rfile
        while True:
            line = rfile.readline(1026)
            size_field = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE_RE.fullmatch(size_field):
                raise HubError(400, "Malformed chunked body")
            left = int(size_field, 16)
            if left == 0:
                for _ in range(MAX_TRAILERS + 1):
                    if rfile.readline(65537) in (b"\r\n", b"\n", b""):
                        return
                raise HubError(400, "Too many trailers in chunked body")
            while left:
                buf = rfile.read(min(bufsize, left))
                if not buf:
                    raise HubError(400, "Truncated chunked body")
                left -= len(buf)
                yield buf
            if rfile.readline(3) not in (b"\r\n", b"\n"):
                raise HubError(400, "Malformed chunked body")

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
            raise HubError(400, f"Invalid JSON body: {e}") from None

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
        """Discard an unread small body; close the connection when the rest of a body is unknown
        (half read, chunked, large, or never sent because 100-continue was not answered)."""
        if self._body_state == "done":
            return
        unread = self._body_state == "unread"
        length = self.length or 0
        if not unread or self.chunked or length > 1 << 20 or self._expects_continue:
            self.handler.close_connection = True
        elif length:
            self.handler.rfile.read(length)
        self._body_state = "done"


def _framing(headers: Message) -> tuple[bool, int | None]:
    """(chunked, Content-Length) of a request; 400 for a malformed, negative, conflicting or
    ambiguous length (both headers), or a transfer coding other than chunked."""
    codings = [v.strip().lower() for v in headers.get_all("Transfer-Encoding") or []]
    lengths = [v.strip() for v in headers.get_all("Content-Length") or []]
    if codings:
        if codings != ["chunked"]:
            raise HubError(400, "Unsupported Transfer-Encoding")
        if lengths:
            raise HubError(400, "Content-Length and Transfer-Encoding together")
        return True, None
    if not lengths:
        return False, None
    if len(set(lengths)) != 1 or not _LENGTH_RE.fullmatch(lengths[0]):
        raise HubError(400, "Invalid Content-Length")
    return False, int(lengths[0])


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubcli-serve/0.1"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # a silent connection (idle keep-alive, stalled body) gives its slot back
        self.connection.settimeout(self.server.hub.limits.idle_timeout)  # type: ignore[attr-defined]
        self.server.track(self.connection, True)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr access log
        pass

    def handle_expect_100(self) -> bool:
        return True  # "100 Continue" is sent when the body is read (Request._send_continue)

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        from hubcli.server.routes import route

        state: HubState = self.server.hub  # type: ignore[attr-defined]
        req: Request | None = None
        started = time.time()
        try:
            req = Request(self)
            state.knobs.sleep_latency()
            resp = route(req)
        except HubError as e:
            resp = _error_response(e.status, e.message, e.code, e.headers)
        except StorageError as e:
            resp = _error_response(e.status, e.message, e.code)
        except Exception:  # pragma: no cover - bug safety net
            traceback.print_exc()
            resp = _error_response(500, "Internal error")
        if req is None:
            self.close_connection = True  # the request's framing is unknown: never reuse
        else:
            req.release()
            try:
                req.drain()
            except Exception:
                self.close_connection = True
        sent = self._send(resp)
        state.log.add(
            {
                "t": round(time.time(), 3),
                "t0": round(started, 3),  # when the request line arrived
                "origin": "cdn" if self.server.is_cdn else "api",  # type: ignore[attr-defined]
                "method": self.command,
                "path": self.path,
                "status": resp.status,
                "bytes": sent,
                "range": self.headers.get("Range"),
                "auth": bool(self.headers.get("Authorization")),
                "user_agent": self.headers.get("User-Agent"),
                "download_counter": self.headers.get("X-HF-Download-Counter"),
            }
        )

    def _send(self, resp: Response) -> int:
        is_head = self.command == "HEAD"
        length = resp.file_count if resp.file_path is not None else len(resp.body)
        lines = [f"HTTP/1.1 {resp.status} {self.responses.get(resp.status, ('',))[0]}"]
        headers = {"Server": self.server_version, "Content-Length": str(length)}
        headers.update(resp.headers)
        if self.close_connection:
            headers["Connection"] = "close"
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        knobs = self.server.hub.knobs  # type: ignore[attr-defined]
        sock = self.connection
        fail_at: int | None = None
        if not is_head and resp.can_fail and length > 0 and knobs.should_fail():
            fail_at = knobs.fail_point(length)
        try:
            if is_head or length == 0:
                sock.sendall(head)
                return 0
            if fail_at is not None:
                sock.sendall(head)
                if resp.file_path is not None:
                    with open(resp.file_path, "rb") as f:
                        f.seek(resp.file_offset)
                        sock.sendall(f.read(fail_at))
                else:
                    sock.sendall(resp.body[:fail_at])
                self.close_connection = True
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                return fail_at
            if resp.file_path is not None and length <= SMALL_FILE and knobs.bandwidth_mbps <= 0:
                with open(resp.file_path, "rb") as f:
                    f.seek(resp.file_offset)
                    sock.sendall(head + f.read(length))
                return length
            if resp.file_path is not None:
                sock.sendall(head)
                return send_file_range(
                    sock, resp.file_path, resp.file_offset, length, knobs.bandwidth_mbps
                )
            if knobs.bandwidth_mbps > 0:
                sock.sendall(head)
                send_bytes_throttled(sock, resp.body, knobs.bandwidth_mbps)
            else:
                sock.sendall(head + resp.body)
            return length
        except OSError:
            self.close_connection = True
            return 0


def _error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    h = {"X-Error-Message": message.replace("\r", " ").replace("\n", " ")}
    if code:
        h["X-Error-Code"] = code
    h.update(headers or {})
    return Response.json({"error": message}, status, h)


class HubHTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open connections so stop() can close idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], hub: HubState, is_cdn: bool) -> None:
        self.hub = hub
        self.is_cdn = is_cdn
        self._conns: set[socket.socket] = set()
        super().__init__(address, HubHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Run the connection in a thread if one of the ``max_connections`` slots (shared by
        the API and CDN listeners) frees up soon; otherwise answer 503 and close it."""
        if not self.hub.slots.acquire(timeout=self.hub.limits.slot_wait):
            _refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.hub.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.hub.slots.release()

    def track(self, conn: socket.socket, add: bool) -> None:
        if add:
            self._conns.add(conn)
        else:
            self._conns.discard(conn)

    def close_all(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _refuse(sock: socket.socket) -> None:
    body = b'{"error":"Server busy: too many connections"}'
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        sock.settimeout(1.0)
        sock.sendall(head.encode() + body)


def file_size(path: str) -> int:
    return os.stat(path).st_size
