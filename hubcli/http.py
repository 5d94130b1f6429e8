"""The HTTP session: pooling, timeouts, retries with backoff, auth scoped to the Hub, error mapping.

Every request hubcli sends goes through :class:`HubSession`. HTTP status codes are read in exactly
one function, :func:`raise_for_hub_status`.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from hubcli import __version__
from hubcli.config import Settings
from hubcli.errors import (
    AuthError,
    ConflictError,
    EntryNotFoundError,
    GatedRepoError,
    HTTPStatusError,
    NetworkError,
    OfflineError,
    ProtocolError,
    RepoNotFoundError,
    RevisionNotFoundError,
    ServerError,
)
from hubcli.liveness import (
    DEADLINE,
    STALL,
    StallMeter,
    Watch,
    attach_current,
    current_watch,
    human_duration,
    parse_retry_after,
    requested_wait,
    watching,
)

USER_AGENT = f"hubcli/{__version__}"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
JSON_MAX_BYTES = 256 * 1024 * 1024  # the largest JSON answer hubcli reads (a huge repo's listing)
ERROR_BODY_MAX = 64 * 1024  # the part of an error answer read for its message
_BODY_READ = 64 * 1024
_TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, lower-cased host, port with the scheme's default) of ``url``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def quote_segment(value: str) -> str:
    """Percent-encode a revision or tree path as one URL segment (no safe characters)."""
    return quote(value, safe="")


def quote_path(path: str) -> str:
    """Percent-encode a file path for a resolve URL, keeping '/'."""
    return quote(path, safe="/")


class _ScopedAuthSession(requests.Session):
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


class _WatchedAdapter(HTTPAdapter):
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


class _BodyInterrupted(NetworkError):
    """A body stopped before its end: the connection dropped, stalled or ran out of time."""


def _error_message(response: requests.Response) -> str:
    msg = response.headers.get("X-Error-Message")
    if msg:
        return msg
    ctype = response.headers.get("Content-Type", "")
    if "json" in ctype:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            err = body.get("error") or body.get("message")
            if isinstance(err, list):
                err = "; ".join(str(e) for e in err)
            if err:
                return str(err)
    if "html" not in ctype:
        text = (response.text or "").strip()
        if text and len(text) < 300:
            return text.splitlines()[0]
    return response.reason or f"HTTP {response.status_code}"


def raise_for_hub_status(response: requests.Response, *, what: str | None = None) -> None:
    """Translate a Hub error response into hubcli's exceptions; return quietly on success (<400)."""
    status = response.status_code
    if status < 400:
        return
    code = response.headers.get("X-Error-Code", "")
    message = _error_message(response)
    target = what or urlsplit(response.url).path
    if code == "GatedRepo":
        raise GatedRepoError(
            f"{target}: gated repo, access not granted ({message}).",
            hint="Request access on the repo page, then retry with a token that has it.",
        )
    if status == 401:
        raise AuthError(
            f"{target}: not found or not accessible without valid credentials (401: {message}).",
            hint="Run 'hubcli auth login' or pass --token / set HF_TOKEN.",
        )
    if status == 403:
        raise AuthError(
            f"{target}: permission denied (403: {message}).",
            hint="Check that your token has the right (write) permission for this repo.",
        )
    if code == "RevisionNotFound":
        raise RevisionNotFoundError(f"{target}: revision not found ({message}).")
    if code == "EntryNotFound":
        raise EntryNotFoundError(
            f"{target}: file not found ({message}).",
            commit=response.headers.get("X-Repo-Commit"),
        )
    if code == "RepoNotFound" or status == 404:
        raise RepoNotFoundError(f"{target}: repository not found ({message}).")
    if status in (409, 412):
        raise ConflictError(f"{target}: conflict ({status}: {message}).", status=status)
    if status >= 500:
        raise ServerError(f"{target}: server error {status} ({message}).", status=status)
    if status == 429:
        raise ServerError(f"{target}: rate limited (429: {message}).", status=status)
    raise HTTPStatusError(f"{target}: request failed ({status}: {message}).", status=status)


class HubSession:
    """One pooled HTTP session for the whole process: retries, timeouts, scoped auth, failover.

    ``sleep`` and ``clock`` are injectable so tests can check backoff without waiting.

    Liveness (``settings``): a call made under a :class:`~hubcli.liveness.Watch` (every JSON call
    through :meth:`request_json`, every file body through :class:`~hubcli.transfer.Transfer`) is
    cut when it stalls or passes its deadline; its socket read timeout is at most the stall window.
    A 429/503 asking to wait longer than ``max_retry_wait`` fails at once.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 32,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_max: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = settings.endpoint
        self.mirrors = settings.mirrors
        self.token = settings.token
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_max = (
            settings.max_retry_wait if retry_after_max is None else retry_after_max
        )
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.trusted = {origin(self.endpoint)}
        self.session = _ScopedAuthSession(self.trusted)
        self.session.trust_env = True
        adapter = _WatchedAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        self.last_base: str = self.endpoint

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HubSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str, base: str | None = None) -> str:
        """Join an absolute API path (``/api/...``) onto the endpoint (or ``base``)."""
        if path.startswith(("http://", "https://")):
            return path
        return (base or self.endpoint) + ("" if path.startswith("/") else "/") + path

    def is_trusted(self, url: str) -> bool:
        return origin(url) in self.trusted

    def auth_headers(self, url: str) -> dict[str, str]:
        """The Authorization header, but only for the Hub's own origin."""
        if self.token and self.is_trusted(url):
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    def stall_meter(self) -> StallMeter:
        """A throughput meter with the configured stall rule (< stall_min_rate over the window)."""
        return StallMeter(self.settings.stall_window, self.settings.stall_min_rate)

    def stall_grace(self) -> float:
        """How long a new connection may take to prove itself once the window is underfed."""
        return self.settings.stall_window / 10

    def file_watch(self, meter: StallMeter | None = None) -> Watch:
        """The watch for one file body (or one ranged part): stalls only, no deadline."""
        return Watch(meter=meter or self.stall_meter(), grace=self.stall_grace())

    def backoff_delay(self, attempt: int, response: requests.Response | None = None) -> float:
        if response is not None:
            ra = parse_retry_after(response.headers.get("Retry-After"), self.clock())
            if ra is not None:
                return min(ra, self.retry_after_max)
        delay: float = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay * (0.5 + self.rng.random() / 2)

    # -- requests -------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        allow_redirects: bool = True,
        retry: bool | None = None,
        raise_status: bool = True,
        what: str | None = None,
        timeout: tuple[float, float] | None = None,
        failover: bool = False,
    ) -> requests.Response:
        """Send one request with retries (idempotent methods, or ``retry=True``) and map errors.

        With ``failover`` and a relative path, the configured mirrors are tried in order after the
        endpoint on connection failures, timeouts and 5xx. Raises HubError subclasses. Bodies are
        read under the stall rule (``stream=False``: the whole body, up to JSON_MAX_BYTES; an
        error answer: its first ERROR_BODY_MAX bytes).
        """
        if self.settings.offline:
            raise OfflineError(
                f"Offline mode is on (HF_HUB_OFFLINE / --offline): cannot reach {path_or_url}."
            )
        method = method.upper()
        if current_watch() is None and method in ("GET", "HEAD"):
            # No body goes up, so nothing legitimate is slower than the stall rule: a GET made
            # outside any watch still gets one (its trickled headers or body are cut).
            with watching(self.file_watch()):
                return self.request(
                    method,
                    path_or_url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    stream=stream,
                    allow_redirects=allow_redirects,
                    retry=retry,
                    raise_status=raise_status,
                    what=what,
                    timeout=timeout,
                    failover=failover,
                )
        do_retry = (method in IDEMPOTENT_METHODS) if retry is None else retry
        is_relative = not path_or_url.startswith(("http://", "https://"))
        bases = [self.endpoint, *self.mirrors] if (failover and is_relative) else [None]
        last_exc: Exception | None = None
        for base in bases:
            url = self.url(path_or_url, base) if (is_relative or base) else path_or_url
            try:
                resp = self._send_with_retries(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    allow_redirects=allow_redirects,
                    do_retry=do_retry,
                    timeout=timeout,
                    what=what,
                )
            except NetworkError as exc:
                if (w := current_watch()) is not None and w.reason == DEADLINE:
                    raise
                last_exc = exc
                continue
            if failover and resp.status_code >= 500 and base != bases[-1]:
                resp.close()
                last_exc = ServerError(f"{url}: server error {resp.status_code}", status=500)
                continue
            self.last_base = base or self.endpoint
            if resp.status_code >= 400 and raise_status:
                try:
                    self.preload(resp, limit=ERROR_BODY_MAX, what=what or url, truncate=True)
                    raise_for_hub_status(resp, what=what)
                finally:
                    resp.close()
            if not stream:
                try:
                    self.preload(resp, limit=JSON_MAX_BYTES, what=what or url)
                except BaseException:
                    resp.close()
                    raise
            return resp
        assert last_exc is not None
        raise last_exc

    # -- liveness -------------------------------------------------------------------------------
    def _timeouts(
        self, timeout: tuple[float, float] | None, watch: Watch | None
    ) -> tuple[float, float]:
        connect, read = timeout or self.timeout
        if watch is None:
            return connect, read
        if watch.meter is not None:
            read = min(read, watch.meter.window)
        left = watch.remaining()
        if left is not None:
            connect, read = min(connect, left), min(read, left)
        return max(0.01, connect), max(0.01, read)

    def deadline_error(self, label: str) -> NetworkError:
        limit = human_duration(self.settings.metadata_deadline)
        return NetworkError(
            f"{label}: no complete answer within {limit} (HUBCLI_METADATA_TIMEOUT).",
            hint="The server is slow or stalls: try again later or raise HUBCLI_METADATA_TIMEOUT.",
        )

    def stall_error(self, label: str, meter: StallMeter | None) -> NetworkError:
        rule = meter.describe() if meter else "no data"
        return NetworkError(f"{label}: the connection stalled ({rule}).")

    def _wait_before_retry(self, delay: float, watch: Watch | None, label: str) -> None:
        left = watch.remaining() if watch is not None else None
        if left is not None and delay >= left:
            exc = self.deadline_error(label)
            exc.message = exc.message[:-1] + f"; the next try would be in {human_duration(delay)}."
            raise exc
        self.sleep(delay)

    def _too_long_wait(self, resp: requests.Response, wait: float, label: str) -> ServerError:
        status = resp.status_code
        return ServerError(
            f"{label}: the server asks to wait {human_duration(wait)} before retrying "
            f"({status} {'rate limited' if status == 429 else 'unavailable'}); hubcli waits at "
            f"most {human_duration(self.retry_after_max)} (HUBCLI_MAX_RETRY_WAIT).",
            hint="Try again later, or raise HUBCLI_MAX_RETRY_WAIT.",
            status=status,
        )

    def _send_with_retries(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        allow_redirects: bool,
        do_retry: bool,
        timeout: tuple[float, float] | None,
        what: str | None,
    ) -> requests.Response:
        hdrs = dict(self.auth_headers(url))
        if headers:
            hdrs.update(headers)
        label = what or f"{method} {urlsplit(url).netloc}"
        watch = current_watch()
        attempt = 0
        while True:
            if watch is not None:
                if watch.reason == DEADLINE or (watch.remaining() or 1.0) <= 0:
                    raise self.deadline_error(label)
                watch.new_attempt()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=hdrs,
                    stream=True,
                    allow_redirects=allow_redirects,
                    timeout=self._timeouts(timeout, watch),
                )
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError,
                OSError,
            ) as exc:
                cut = watch.reason if watch is not None else None
                if cut == DEADLINE:
                    raise self.deadline_error(label) from exc
                if do_retry and attempt < self.max_retries:
                    self._wait_before_retry(self.backoff_delay(attempt), watch, label)
                    attempt += 1
                    continue
                if cut == STALL:
                    kind = "stalled"
                elif isinstance(exc, requests.Timeout):
                    kind = "timed out"
                else:
                    kind = "connection failed"
                raise NetworkError(
                    f"{method} {urlsplit(url).netloc}: {kind} after {attempt + 1} attempt(s).",
                    hint="Check your network, HF_ENDPOINT, or try --mirror.",
                ) from exc
            except requests.RequestException as exc:
                raise NetworkError(f"{method} {urlsplit(url).netloc}: {exc}") from exc
            if resp.status_code in RETRY_STATUSES and do_retry:
                wait = requested_wait(resp.headers, self.clock())
                if wait is not None and wait > self.retry_after_max:
                    resp.close()
                    raise self._too_long_wait(resp, wait, label)
                if attempt < self.max_retries:
                    delay = wait if wait is not None else self.backoff_delay(attempt)
                    resp.close()
                    self._wait_before_retry(delay, watch, label)
                    attempt += 1
                    continue
            return resp

    # -- bodies ---------------------------------------------------------------------------------
    def read_body(
        self,
        resp: requests.Response,
        watch: Watch,
        *,
        limit: int,
        label: str,
        truncate: bool = False,
    ) -> bytes:
        """Read a whole streamed body under ``watch``: at most ``limit`` bytes (more is a
        ProtocolError unless ``truncate``). A drop, stall or deadline raises _BodyInterrupted."""
        declared = resp.headers.get("Content-Length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise ProtocolError(
                f"{label}: the answer is {declared} bytes, over the {limit} bytes hubcli reads."
            )
        watch.attach(response_socket(resp))
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = resp.raw.read1(_BODY_READ, decode_content=True)
            except _TRANSPORT_ERRORS as exc:
                raise self._interrupted(watch, label) from exc
            if not chunk:
                break
            if watch.meter is not None:
                watch.meter.add(len(chunk))
            total += len(chunk)
            if total > limit:
                if truncate:
                    chunks.append(chunk[: limit - total])
                    resp.close()
                    break
                raise ProtocolError(
                    f"{label}: the answer is larger than the {limit} bytes hubcli reads."
                )
            chunks.append(chunk)
            if watch.check() is not None:
                raise self._interrupted(watch, label)
        if watch.reason is not None:  # cut between two reads: the EOF was not the server's
            raise self._interrupted(watch, label)
        return b"".join(chunks)

    def _interrupted(self, watch: Watch, label: str) -> _BodyInterrupted:
        if watch.reason == DEADLINE:
            return _BodyInterrupted(self.deadline_error(label).message)
        if watch.reason == STALL:
            return _BodyInterrupted(self.stall_error(label, watch.meter).message)
        return _BodyInterrupted(f"{label}: the connection dropped in the middle of the answer.")

    def preload(
        self, resp: requests.Response, *, limit: int, what: str, truncate: bool = False
    ) -> None:
        """Read ``resp``'s body now, under the current watch or a stall-only one."""
        if getattr(resp, "_content_consumed", False):
            return
        watch = current_watch()
        ctx = contextlib.nullcontext(watch) if watch is not None else watching(self.file_watch())
        try:
            with ctx as active:
                body = self.read_body(resp, active, limit=limit, label=what, truncate=truncate)
        except _BodyInterrupted:
            if not truncate or (watch is not None and watch.reason == DEADLINE):
                raise
            body = b""  # an error answer whose body stalls: its status alone tells the error
        resp._content = body
        resp._content_consumed = True  # type: ignore[attr-defined]

    # -- JSON calls -----------------------------------------------------------------------------
    def request_json(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        what: str | None = None,
        failover: bool = False,
        max_bytes: int = JSON_MAX_BYTES,
    ) -> Any:
        """A metadata call: send, read and parse one JSON answer, all within
        ``settings.metadata_deadline`` seconds (retries included), under the stall rule, and at
        most ``max_bytes`` (default 256 MiB) of body. Errors: the mapped HubError for an error
        status, NetworkError (exit 5) for a stall, a drop or the deadline, ProtocolError (exit 5)
        for invalid or oversized JSON."""
        return self._json_call(
            method,
            path_or_url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            retry=retry,
            what=what,
            failover=failover,
            max_bytes=max_bytes,
        )[0]

    def _json_call(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        what: str | None = None,
        failover: bool = False,
        max_bytes: int = JSON_MAX_BYTES,
    ) -> tuple[Any, requests.Response]:
        label = what or path_or_url
        do_retry = (method.upper() in IDEMPOTENT_METHODS) if retry is None else retry
        deadline = time.monotonic() + self.settings.metadata_deadline
        watch = Watch(meter=self.stall_meter(), deadline=deadline, grace=self.stall_grace())
        failures = 0
        with watching(watch):
            while True:
                resp = self.request(
                    method,
                    path_or_url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    stream=True,
                    retry=retry,
                    what=what,
                    failover=failover,
                )
                try:
                    body = self.read_body(resp, watch, limit=max_bytes, label=label)
                except _BodyInterrupted:
                    failures += 1
                    if watch.reason == DEADLINE or not do_retry or failures > self.max_retries:
                        raise
                    self._wait_before_retry(self.backoff_delay(failures - 1), watch, label)
                    continue
                finally:
                    resp.close()
                return parse_json(body, label), resp

    def get_json(self, path: str, *, params: Any = None, what: str | None = None) -> Any:
        return self.request_json("GET", path, params=params, what=what)

    def paginate(self, path: str, *, params: Any = None, what: str | None = None) -> Iterator[Any]:
        """Yield items of a JSON-array listing, following ``Link: <...>; rel="next"`` lazily.

        Each page is one metadata call (its own deadline, stall rule and size cap)."""
        url: str | None = self.url(path)
        first = True
        while url:
            items, resp = self._json_call("GET", url, params=params if first else None, what=what)
            first = False
            if not isinstance(items, list):
                raise ProtocolError(f"{what or path}: expected a JSON array from the server.")
            yield from items
            nxt = resp.links.get("next", {}).get("url")
            url = urljoin(resp.url, nxt) if nxt else None


def parse_json(body: bytes, label: str) -> Any:
    """Parse a JSON answer; anything unparsable (also absurd nesting) is a ProtocolError."""
    try:
        return jsonlib.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"{label}: the server sent invalid JSON.") from exc
