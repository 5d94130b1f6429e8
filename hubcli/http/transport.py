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


class ScopedAuthSession(requests.Session):
    """A requests.Session that never carries Authorization to an origin other than the Hub's.

    requests already strips auth on a host change; this also refuses to re-add credentials from
    ~/.netrc and treats a port change or https->http as a different origin.
    """

    def __init__(self, trusted_origins: set[tuple[str, str, int]]) -> None:
        super().__init__()
        self.trusted_origins = trusted_origins

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if "Authorization" in prepared_request.headers and (
            origin(prepared_request.url) not in self.trusted_origins
        ):
            del prepared_request.headers["Authorization"]


class _WatchedHTTPConnection(HTTPConnection):
    """Hands its socket to the calling thread's liveness watch (so a trickled header can be cut)."""

    def connect(self) -> None:
        super().connect()
        attach_current(self.sock)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        attach_current(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        attach_current(self.sock)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        attach_current(self.sock)
        return super().getresponse(*args, **kwargs)


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
