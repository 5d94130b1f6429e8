"""The sender: one pooled HTTP session that sends a request with retries, backoff, timeouts,
mirror failover, auth scoped to the Hub, and reads bodies under the liveness rules.

HTTP status codes are read in exactly one function, :func:`hubcli.http.status.raise_for_hub_status`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from hubcli import __version__
from hubcli.config import Settings
from hubcli.errors import NetworkError, OfflineError, ProtocolError, ServerError
from hubcli.http.mirrors import Mirrors, NextMirror
from hubcli.http.status import raise_for_hub_status
from hubcli.http.transport import (
    TRANSPORT_ERRORS,
    ScopedAuthSession,
    WatchedAdapter,
    response_socket,
)
from hubcli.http.urls import origin
from hubcli.liveness import (
    DEADLINE,
    STALL,
    StallMeter,
    Watch,
    current_watch,
    human_duration,
    parse_retry_after,
    requested_wait,
    watching,
)

USER_AGENT = f"hubcli/{__version__}"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
JSON_MAX_BYTES = 256 * 1024 * 1024  # the largest JSON answer hubcli reads (a huge repo's listing)
ERROR_BODY_MAX = 64 * 1024  # the part of an error answer read for its message
_BODY_READ = 64 * 1024


class BodyInterrupted(NetworkError):
    """A body stopped before its end: the connection dropped, stalled or ran out of time."""


class Sender:
    """One pooled HTTP session for the whole process: retries, timeouts, scoped auth, failover.

    ``sleep`` and ``clock`` are injectable so tests can check backoff without waiting.

    Liveness (``settings``): a call made under a :class:`~hubcli.liveness.Watch` (every JSON call
    through ``HubSession.request_json``, every file body through ``hubcli.transfer.Transfer``) is
    cut when it stalls or passes its deadline; its socket read timeout is at most the stall window.
    A 429/503 asking to wait longer than ``max_retry_wait`` fails at once.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 64,  # the adaptive budget runs up to 32 streams (hubcli.transfer.adaptive)
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
        self.session = ScopedAuthSession(self.trusted)
        self.session.trust_env = True
        adapter = WatchedAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def mirrors_order(self, *, first: str | None = None) -> Mirrors:
        """A fresh failover order over the endpoint and the mirrors (``first`` tried first)."""
        return Mirrors([self.endpoint, *self.mirrors], first=first)

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
        mirrors: Mirrors | None = None,
    ) -> requests.Response:
        """Send one request with retries (idempotent methods, or ``retry=True``) and map errors.

        With ``mirrors`` and a relative path, its bases are tried in order on connection failures,
        timeouts and 5xx, and it is told which one answered. Raises HubError subclasses. Bodies are
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
                    mirrors=mirrors,
                )
        do_retry = (method in IDEMPOTENT_METHODS) if retry is None else retry
        is_relative = not path_or_url.startswith(("http://", "https://"))

        def send(url: str) -> requests.Response:
            return self._send_with_retries(
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

        def attempt(base: str, is_last: bool) -> tuple[requests.Response, str]:
            url = self.url(path_or_url, base)
            try:
                resp = send(url)
            except NetworkError as exc:
                if (w := current_watch()) is not None and w.reason == DEADLINE:
                    raise
                raise NextMirror(exc) from None
            if resp.status_code >= 500 and not is_last:
                resp.close()
                raise NextMirror(ServerError(f"{url}: server error {resp.status_code}", status=500))
            return resp, url

        if mirrors is not None and is_relative:
            resp, url = mirrors.call(attempt)
        else:
            url = self.url(path_or_url) if is_relative else path_or_url
            resp = send(url)
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
        ProtocolError unless ``truncate``). A drop, stall or deadline raises BodyInterrupted."""
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
            except TRANSPORT_ERRORS as exc:
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

    def _interrupted(self, watch: Watch, label: str) -> BodyInterrupted:
        if watch.reason == DEADLINE:
            return BodyInterrupted(self.deadline_error(label).message)
        if watch.reason == STALL:
            return BodyInterrupted(self.stall_error(label, watch.meter).message)
        return BodyInterrupted(f"{label}: the connection dropped in the middle of the answer.")

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
        except BodyInterrupted:
            if not truncate or (watch is not None and watch.reason == DEADLINE):
                raise
            body = b""  # an error answer whose body stalls: its status alone tells the error
        resp._content = body
        resp._content_consumed = True  # type: ignore[attr-defined]
