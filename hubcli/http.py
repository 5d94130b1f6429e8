"""The HTTP session: pooling, timeouts, retries with backoff, auth scoped to the Hub, error mapping.

Every request hubcli sends goes through :class:`HubSession`. HTTP status codes are read in exactly
one function, :func:`raise_for_hub_status`.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

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
    RepoNotFoundError,
    RevisionNotFoundError,
    ServerError,
)

USER_AGENT = f"hubcli/{__version__}"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def _parse_retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


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
        retry_after_max: float = 60.0,
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
        self.retry_after_max = retry_after_max
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.trusted = {origin(self.endpoint)}
        self.session = _ScopedAuthSession(self.trusted)
        self.session.trust_env = True
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_size, max_retries=0)
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

    def backoff_delay(self, attempt: int, response: requests.Response | None = None) -> float:
        if response is not None:
            ra = _parse_retry_after(response.headers.get("Retry-After"), self.clock())
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
        endpoint on connection failures, timeouts and 5xx. Raises HubError subclasses.
        """
        if self.settings.offline:
            raise OfflineError(
                f"Offline mode is on (HF_HUB_OFFLINE / --offline): cannot reach {path_or_url}."
            )
        method = method.upper()
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
                    stream=stream,
                    allow_redirects=allow_redirects,
                    do_retry=do_retry,
                    timeout=timeout,
                )
            except NetworkError as exc:
                last_exc = exc
                continue
            if failover and resp.status_code >= 500 and base != bases[-1]:
                resp.close()
                last_exc = ServerError(f"{url}: server error {resp.status_code}", status=500)
                continue
            self.last_base = base or self.endpoint
            if raise_status:
                try:
                    raise_for_hub_status(resp, what=what)
                except Exception:
                    resp.close()
                    raise
            return resp
        assert last_exc is not None
        raise last_exc

    def _send_with_retries(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        stream: bool,
        allow_redirects: bool,
        do_retry: bool,
        timeout: tuple[float, float] | None,
    ) -> requests.Response:
        hdrs = dict(self.auth_headers(url))
        if headers:
            hdrs.update(headers)
        attempt = 0
        while True:
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=hdrs,
                    stream=stream,
                    allow_redirects=allow_redirects,
                    timeout=timeout or self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if do_retry and attempt < self.max_retries:
                    self.sleep(self.backoff_delay(attempt))
                    attempt += 1
                    continue
                kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                host = urlsplit(url).netloc
                raise NetworkError(
                    f"{method} {host}: {kind} after {attempt + 1} attempt(s).",
                    hint="Check your network, HF_ENDPOINT, or try --mirror.",
                ) from exc
            except requests.RequestException as exc:
                raise NetworkError(f"{method} {urlsplit(url).netloc}: {exc}") from exc
            if resp.status_code in RETRY_STATUSES and do_retry and attempt < self.max_retries:
                delay = self.backoff_delay(attempt, resp)
                resp.close()
                self.sleep(delay)
                attempt += 1
                continue
            return resp

    def get_json(self, path: str, *, params: Any = None, what: str | None = None) -> Any:
        resp = self.request("GET", path, params=params, what=what)
        try:
            return resp.json()
        except ValueError as exc:
            raise ServerError(f"{what or path}: the server sent invalid JSON.") from exc

    def paginate(self, path: str, *, params: Any = None, what: str | None = None) -> Iterator[Any]:
        """Yield items of a JSON-array listing, following ``Link: <...>; rel="next"`` lazily."""
        url: str | None = self.url(path)
        first = True
        while url:
            resp = self.request("GET", url, params=params if first else None, what=what)
            first = False
            try:
                items = resp.json()
            except ValueError as exc:
                raise ServerError(f"{what or path}: the server sent invalid JSON.") from exc
            if not isinstance(items, list):
                raise ServerError(f"{what or path}: expected a JSON array from the server.")
            yield from items
            nxt = resp.links.get("next", {}).get("url")
            url = urljoin(resp.url, nxt) if nxt else None
