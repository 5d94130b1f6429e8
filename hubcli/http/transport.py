"""The transport under the session: scoped-auth requests session, sockets handed to the liveness
watch, and the one translation of a transport error raised in the middle of a body."""

from __future__ import annotations

import socket
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from hubcli.errors import NetworkError
from hubcli.http.urls import origin
from hubcli.liveness import attach_current

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)
"""What reading a response body may raise when the connection drops, stalls or is cut."""


def as_network_error(exc: BaseException, what: str) -> NetworkError:
    """A transport error raised mid-body, as the NetworkError (exit 5) that says ``what`` broke."""
    return NetworkError(f"{what} ({exc}).")


class _NoNetrc(requests.auth.AuthBase):
    """Session-level auth that adds nothing: its presence stops requests from reading ~/.netrc
    for every request (credentials for the Hub come from the token alone)."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class ScopedAuthSession(requests.Session):
    """A requests.Session that never carries Authorization to an origin other than the Hub's.

    requests already strips auth on a host change; this also refuses to re-add credentials from
    ~/.netrc and treats a port change or https->http as a different origin. ``~/.netrc`` is never
    read, and the proxy environment (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...) is
    read once per origin instead of once per request.
    """

    def __init__(self, trusted_origins: set[tuple[str, str, int]]) -> None:
        super().__init__()
        self.trusted_origins = trusted_origins
        self.auth = _NoNetrc()
        self._env_settings: dict[tuple[str, str, int], dict[str, Any]] = {}

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if "Authorization" in prepared_request.headers and (
            origin(prepared_request.url) not in self.trusted_origins
        ):
            del prepared_request.headers["Authorization"]

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = origin(url)
        env = self._env_settings.get(key)
        if env is None:  # what requests would compute for this origin from the environment
            env = dict(super().merge_environment_settings(url, {}, None, None, None))
            self._env_settings[key] = env
        return {
            "proxies": dict(env["proxies"]),
            "stream": self.stream if stream is None else stream,
            "verify": env["verify"] if verify is None or verify is True else verify,
            "cert": self.cert if cert is None else cert,
        }


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def quick_ack(sock: socket.socket | None) -> None:
    """Acknowledge the next segments at once rather than after the delayed-ACK timer (Linux).

    Many servers (Python's ``http.server`` among them) write a response's header block and its
    body separately with Nagle's algorithm on: the body waits until the header block is
    acknowledged, and a client in delayed-ACK mode holds that ACK for up to 40 ms, on every
    response of a reused connection. The kernel leaves quick-ACK mode on its own, so this is set
    again for every response. Elsewhere (no ``TCP_QUICKACK``) it does nothing.
    """
    if _QUICKACK is None or sock is None:
        return
    try:  # noqa: SIM105 - once per response: a bare try is the cheapest guard
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
    except OSError:
        pass


class _WatchedMixin:
    """Hands the socket to the calling thread's liveness watch (so a trickled header can be cut)
    and asks the kernel to acknowledge the response at once (see :func:`quick_ack`)."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        attach_current(self.sock)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        attach_current(self.sock)
        quick_ack(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (also through an HTTP proxy) report their sockets."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def response_socket(resp: requests.Response) -> socket.socket | None:
    """The socket a streamed response reads from (None once it was released)."""
    conn = getattr(resp.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    return sock if isinstance(sock, socket.socket) else None
