"""HubSession: the sender plus the Hub's metadata calls (one JSON answer each, paginated lists)."""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

import requests

from hubcli.errors import ProtocolError
from hubcli.http.mirrors import Mirrors
from hubcli.http.sender import IDEMPOTENT_METHODS, JSON_MAX_BYTES, BodyInterrupted, Sender
from hubcli.liveness import DEADLINE, Watch, watching


class HubSession(Sender):
    """One pooled HTTP session for the whole process, with the Hub's JSON calls on top.

    See :class:`~hubcli.http.sender.Sender` for retries, timeouts, scoped auth and liveness.
    """

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
        mirrors: Mirrors | None = None,
        max_bytes: int = JSON_MAX_BYTES,
    ) -> Any:
        """A metadata call: send, read and parse one JSON answer, all within
        ``settings.metadata_deadline`` seconds (retries included), under the stall rule, and at
        most ``max_bytes`` (default 256 MiB) of body. Errors: the mapped HubError for an error
        status, NetworkError (exit 5) for a stall, a drop or the deadline, ProtocolError (exit 5)
        for invalid or oversized JSON. ``mirrors``: fail over as :meth:`request` does."""
        return self._json_call(
            method,
            path_or_url,
            params=params,
            json=json,
            data=data,
            headers=headers,
            retry=retry,
            what=what,
            mirrors=mirrors,
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
        mirrors: Mirrors | None = None,
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
                    mirrors=mirrors,
                )
                try:
                    body = self.read_body(resp, watch, limit=max_bytes, label=label)
                except BodyInterrupted:
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
