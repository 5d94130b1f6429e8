"""The HTTP layer of the local hub on the standard library: a threading server (one thread per
connection, a shared cap on connections), the request handler that turns each HTTP/1.1 request
into a ``Request``, hands it to the router it was given, and writes the ``Response`` back
(sendfile for files, knobs for latency, bandwidth and failure injection), and the request log.

It never imports the router or the endpoints: ``HubServer`` hands it ``route``. This is the seam
where another transport (an ASGI adapter) would plug in; see "Server stack" in docs/server.md.
"""

from __future__ import annotations

import contextlib
import socket
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hubcli.server.ids import StorageError
from hubcli.server.knobs import send_bytes_throttled, send_file_range
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response, error_response
from hubcli.server.state import HubState

SMALL_FILE = 256 * 1024  # bodies up to this size go out in one write with the headers

Router = Callable[[Request], Response]
"""What the HTTP layer is handed: one request in, one answer out (or ``ApiError`` raised)."""


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
        server: HubHTTPServer = self.server  # type: ignore[assignment]
        state = server.hub
        req: Request | None = None
        started = time.time()
        try:
            req = Request(
                method=self.command,
                target=self.path,
                headers=self.headers,
                version=self.request_version,
                rfile=self.rfile,
                wfile=self.wfile,
                state=state,
                is_cdn=server.is_cdn,
            )
            state.knobs.sleep_latency()
            resp = server.route(req)
        except ApiError as e:
            resp = error_response(e.status, e.message, e.code, e.headers)
        except StorageError as e:
            resp = error_response(e.status, e.message, e.code)
        except Exception:  # pragma: no cover - bug safety net
            traceback.print_exc()
            resp = error_response(500, "Internal error")
        if req is None:
            self.close_connection = True  # the request's framing is unknown: never reuse
        else:
            req.release()
            try:
                req.drain()
            except Exception:
                self.close_connection = True
            if req.close_connection:
                self.close_connection = True
        sent = self._send(resp)
        state.log.add(
            {
                "t": round(time.time(), 3),
                "t0": round(started, 3),  # when the request line arrived
                "origin": "cdn" if server.is_cdn else "api",
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
        length = resp.length
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


class HubHTTPServer(ThreadingHTTPServer):
    """Threading server that remembers open connections so stop() can close idle keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self, address: tuple[str, int], hub: HubState, is_cdn: bool, route: Router
    ) -> None:
        self.hub = hub
        # the accept backlog holds as many connections as may be open at once (a burst of new
        # connections past it would wait for SYN retransmits, a second or more)
        self.request_queue_size = max(type(self).request_queue_size, hub.limits.max_connections)
        self.is_cdn = is_cdn
        self.route = route
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
