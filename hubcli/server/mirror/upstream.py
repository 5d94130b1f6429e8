"""The mirror's own small HTTP client for its upstream hubs (``requests``, one session per thread).

* Requests carry the mirror's own token (``--upstream-token-file``) and never a client's; the token
  is sent only to the upstream's origin: a redirect to another origin (an LFS CDN) is followed
  without ``Authorization``. The token never appears in a log line or an error message.
* Redirects are followed by hand (at most 5, ``http``/``https`` only).
* Timeouts on connect and on every read; ``.netrc`` is never read, the proxy environment
  (``HTTPS_PROXY``, ``NO_PROXY``...) is honoured: a team mirror usually reaches the Hub through
  the site's egress proxy.
* Failover: the upstreams are tried in order, the ones seen down recently last. A connection error,
  a 5xx or a 429 moves on to the next one; another 4xx is the hub's answer (``UpstreamAnswer``); an
  answer that breaks the protocol (``ProtocolError`` from a validator) moves on too, and if every
  upstream failed that way the client gets a 502, otherwise a 503.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from hubcli.server.mirror.metrics import Metrics

USER_AGENT = "hubcli-mirror/0.1"
MAX_JSON = 64 * 1024 * 1024  # bytes of one upstream JSON answer
DOWN_FOR = 10.0  # seconds an upstream that failed is tried after the others


class ProtocolError(Exception):
    """An upstream answer that breaks the Hub protocol (bad JSON, names, hashes, sizes)."""


class UpstreamError(Exception):
    """Every upstream failed: ``protocol`` when at least one answered but broke the protocol."""

    def __init__(self, message: str, *, protocol: bool) -> None:
        super().__init__(message)
        self.protocol = protocol


class UpstreamAnswer(Exception):
    """An authoritative error answer of an upstream (404 RepoNotFound, 401/403 gated, ...)."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Upstream:
    url: str
    down_until: float = 0.0
    last_error: str = ""
    errors: int = 0

    @property
    def origin(self) -> tuple[str, str]:
        parts = urlsplit(self.url)
        return parts.scheme, parts.netloc.lower()


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class UpstreamClient:
    """GETs and POSTs to the upstreams, with failover."""

    def __init__(
        self,
        urls: list[str],
        token: str | None,
        metrics: Metrics,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.upstreams = [Upstream(u.rstrip("/")) for u in urls]
        self._token = token
        self.metrics = metrics
        self.timeout = (connect_timeout, read_timeout)
        self._local = threading.local()
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the token
        return f"UpstreamClient({[u.url for u in self.upstreams]!r})"

    def _session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.auth = _no_auth  # session-level auth that adds nothing: ~/.netrc is never read
            self._local.session = s
        return s

    def order(self) -> list[Upstream]:
        """The upstreams to try: in the configured order, those seen down recently last."""
        now = time.monotonic()
        return sorted(self.upstreams, key=lambda u: u.down_until > now)

    def mark_down(self, up: Upstream, why: str) -> None:
        with self._lock:
            up.down_until = time.monotonic() + DOWN_FOR
            up.last_error = why
            up.errors += 1
        self.metrics.inc("upstream_errors_total")

    def mark_up(self, up: Upstream) -> None:
        if up.down_until:
            with self._lock:
                up.down_until = 0.0

    # ------------------------------------------------------------------ one request
    def request(
        self,
        up: Upstream,
        method: str,
        target: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        as_token: str | None = None,
    ) -> requests.Response:
        """``method`` ``up.url + target`` following redirects by hand; the token (the mirror's,
        or ``as_token``: a client's own with ``--forward-token``) goes only to ``up``'s origin.
        Raises ``requests.RequestException`` on network errors."""
        url = up.url + target
        token = as_token or self._token
        self.metrics.inc("upstream_requests_total")
        for _ in range(6):
            h = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
            h.update(headers or {})
            if token and _origin(url) == up.origin:
                h["Authorization"] = f"Bearer {token}"
            resp = self._session().request(
                method,
                url,
                data=data,
                headers=h,
                stream=stream,
                allow_redirects=False,
                timeout=self.timeout,
            )
            if resp.status_code not in (301, 302, 303, 307, 308):
                return resp
            loc = resp.headers.get("Location")
            resp.close()
            if not loc:
                raise ProtocolError(f"redirect without Location from {up.url}")
            url = urljoin(url, loc)
            if urlsplit(url).scheme not in ("http", "https"):
                raise ProtocolError(f"redirect to a non-HTTP URL from {up.url}")
            if resp.status_code == 303:
                method, data = "GET", None
        raise ProtocolError(f"too many redirects from {up.url}")

    # ------------------------------------------------------------------ JSON with failover
    def get_json(
        self,
        target: str,
        validate: Callable[[Any, Upstream], Any],
        *,
        method: str = "GET",
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        only: Upstream | None = None,
        as_token: str | None = None,
    ) -> tuple[Any, requests.structures.CaseInsensitiveDict[str], Upstream]:
        """The validated JSON answer of the first upstream that gives one: (value, headers,
        upstream). ``UpstreamAnswer`` for an authoritative 4xx; ``UpstreamError`` when all fail."""
        protocol = False
        last = "no upstream configured"
        for up in [only] if only is not None else self.order():
            try:
                resp = self.request(
                    up, method, target, data=data, headers=headers, stream=True, as_token=as_token
                )
                with contextlib.closing(resp):
                    status = resp.status_code
                    if status >= 500 or status == 429:
                        raise _Retry(f"{up.url} answered {status}")
                    body = _read_capped(resp.iter_content(1 << 16), MAX_JSON)
                    if status != 200:
                        if 400 <= status < 500:
                            raise UpstreamAnswer(status, *_error_of(resp, body))
                        raise ProtocolError(f"unexpected status {status}")
                    try:
                        value = json.loads(body)
                    except ValueError:
                        raise ProtocolError("the answer is not JSON") from None
                    value = validate(value, up)
                    self.mark_up(up)
                    self.metrics.inc("upstream_bytes_fetched_total", len(body))
                    return value, resp.headers, up
            except UpstreamAnswer:
                self.mark_up(up)
                raise
            except ProtocolError as e:
                protocol = True
                last = f"{up.url}: protocol error: {e}"
                self.mark_down(up, last)
            except (_Retry, requests.RequestException, OSError) as e:
                last = f"{up.url}: {_describe(e)}"
                self.mark_down(up, last)
        raise UpstreamError(last, protocol=protocol)


def _no_auth(r: requests.PreparedRequest) -> requests.PreparedRequest:
    return r


class _Retry(Exception):
    pass


def _describe(e: BaseException) -> str:
    """A short description of a network error (never a header, so never the token)."""
    return type(e).__name__ if isinstance(e, requests.RequestException) else str(e)


def _read_capped(pieces: Iterator[bytes], cap: int) -> bytes:
    buf = bytearray()
    for piece in pieces:
        buf += piece
        if len(buf) > cap:
            raise ProtocolError(f"answer larger than {cap} bytes")
    return bytes(buf)


def _error_of(resp: requests.Response, body: bytes) -> tuple[str | None, str]:
    code = resp.headers.get("X-Error-Code")
    msg = resp.headers.get("X-Error-Message") or ""
    if not msg:
        with contextlib.suppress(ValueError, AttributeError):
            msg = str(json.loads(body).get("error") or "")
    return code, (msg or f"upstream answered {resp.status_code}")[:500]
