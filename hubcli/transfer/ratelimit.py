"""``--limit-rate``: one token bucket per process, shared by every connection of the run.

Each body read takes its bytes from the bucket after it arrived (:meth:`Streams.pace`); when the
bucket is in debt the reading thread sleeps until the debt is paid, so all connections together
never average more than the rate. The bucket starts empty and holds at most a tenth of a second
of bytes (at least one read), so a burst stays small: 50 MB at 5 MB/s cannot take less than
``(50 MB - 0.5 MB) / 5 MB/s``, about 9.9 s. The sleep is not a stall (it runs inside
:meth:`~hubcli.liveness.StallMeter.excluded`) and ends at once when the run is cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from hubcli.transfer.job import READ_SIZE

RATE_STREAMS = 4
"""Connections per ranged file when a rate is set and ``--max-workers`` is not: fixed, since
adding connections cannot beat a cap (see :mod:`hubcli.transfer.adaptive`)."""


class TokenBucket:
    """``rate`` bytes per second on average, bursts of at most ``burst`` bytes (thread-safe)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("a rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(READ_SIZE, int(rate / 10)))
        self._clock = clock
        self._lock = threading.Lock()
        self._level = 0.0
        self._t = clock()

    def reserve(self, nbytes: int) -> float:
        """Take ``nbytes``; return how long the caller must wait to stay under the rate."""
        with self._lock:
            now = self._clock()
            self._level = min(self.burst, self._level + (now - self._t) * self.rate)
            self._t = now
            self._level -= nbytes
            return 0.0 if self._level >= 0 else -self._level / self.rate


_buckets: dict[int, TokenBucket] = {}
_buckets_lock = threading.Lock()


def process_bucket(rate: int) -> TokenBucket:
    """The one bucket of this process for ``rate`` (every transfer of a run shares it)."""
    with _buckets_lock:
        bucket = _buckets.get(rate)
        if bucket is None:
            bucket = _buckets[rate] = TokenBucket(rate)
        return bucket


def parse_limit_rate(text: str | None) -> int | None:
    """``settings.limit_rate`` read as bytes per second (None: no limit); UsageError if bad."""
    if text is None:
        return None
    from hubcli.units import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        from hubcli.errors import UsageError

        raise UsageError(f"--limit-rate / HUBCLI_LIMIT_RATE: {exc}") from None


class PacedBody:
    """A request body (``read``, ``__len__``, ``close``) whose reads take their bytes from a
    bucket: an upload under ``--limit-rate`` sends no faster than the rate, shared with every
    other body of the process. The wait happens before a block is handed to the connection and
    ends early when ``cancel`` is set."""

    def __init__(
        self, body: Any, bucket: TokenBucket, cancel: threading.Event | None = None
    ) -> None:
        self._body = body
        self._bucket = bucket
        self._cancel = cancel or threading.Event()

    def __len__(self) -> int:
        return len(self._body)

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._body.read(n)
        if data:
            wait = self._bucket.reserve(len(data))
            if wait > 0:
                self._cancel.wait(wait)
        return data

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()


def paced(body: Any, limit_rate: str | None, cancel: threading.Event | None = None) -> Any:
    """``body`` paced by the process bucket of ``limit_rate`` (``settings.limit_rate``), or
    ``body`` itself when no rate is set."""
    rate = parse_limit_rate(limit_rate)
    if rate is None:
        return body
    return PacedBody(body, process_bucket(rate), cancel)
