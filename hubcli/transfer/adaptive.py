"""How many connections a transfer runs: start at a budget, add while throughput grows.

One rule for both places a download runs things in parallel (files of a repo, parts of a big
file): start with ``start`` streams; every ``interval`` seconds compare the throughput of the last
interval (files or bytes per second) with the best seen so far, and double the streams while each
doubling buys at least ``gain`` more (a link capped per connection, or latency-bound small files);
stop growing at the first step that does not pay, and step back when it made things worse (two
cores busy copying bytes, a server that throttles per client). ``fixed`` (the user said
``--max-workers``) turns the rule off. The ceiling, :data:`MAX_STREAMS`, is documented in
docs/performance.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

START_STREAMS = 8
MAX_STREAMS = 32
# Many small files are latency-bound from the first request: starting at 8 left the first 0.2 s
# interval at half the useful rate (200 x 4 KiB at 20 ms: 0.61-0.67 s from 8, 0.49-0.52 s from 16).
MANY_FILES_START = 16
MANY_FILES = 64
INTERVAL = 0.2
GAIN = 1.2
WORSE = 0.85


class Concurrency:
    """The stream count of one transfer (thread-safe). Feed :meth:`observe` with a running total
    of work done (bytes or files); read :attr:`target`."""

    def __init__(
        self,
        start: int = START_STREAMS,
        ceiling: int = MAX_STREAMS,
        *,
        fixed: bool = False,
        interval: float = INTERVAL,
        gain: float = GAIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.target = max(1, min(start, self.ceiling))
        self.fixed = fixed
        self.interval = interval
        self.gain = gain
        self._clock = clock
        self._lock = threading.Lock()
        self._t0: float | None = None
        self._done0 = 0.0
        self._best = 0.0
        self._previous = self.target
        self._frozen = fixed

    @property
    def growing(self) -> bool:
        return not self._frozen

    def observe(self, done: float) -> int:
        """Account ``done`` (a running total); return the stream count to run now."""
        with self._lock:
            if self._frozen:
                return self.target
            now = self._clock()
            if self._t0 is None or done <= 0:
                self._t0, self._done0 = now, done
                return self.target
            elapsed = now - self._t0
            if elapsed < self.interval:
                return self.target
            rate = (done - self._done0) / elapsed
            self._t0, self._done0 = now, done
            if rate >= self._best * self.gain:
                self._best = rate
                if self.target >= self.ceiling:
                    self._frozen = True
                else:
                    self._previous = self.target
                    self.target = min(self.ceiling, self.target * 2)
            else:
                if rate < self._best * WORSE:
                    self.target = self._previous
                self._frozen = True
            return self.target


class Gate:
    """Lets at most ``concurrency.target`` callers run at once; each finished call counts one unit
    of work for :meth:`Concurrency.observe` (files per second). Threads beyond the target wait
    here, idle, until a slot frees or the target grows."""

    def __init__(self, concurrency: Concurrency) -> None:
        self.concurrency = concurrency
        self._cond = threading.Condition()
        self._active = 0
        self._done = 0

    def run(self, fn: Callable[[T], R], arg: T) -> R:
        with self._cond:
            while self._active >= self.concurrency.target:
                self._cond.wait()
            self._active += 1
        try:
            return fn(arg)
        finally:
            with self._cond:
                self._active -= 1
                self._done += 1
                target = self.concurrency.observe(self._done)
                # wake only as many waiters as there are free slots (one, or more when the
                # target grew): waking them all made every finished file cost a stampede of
                # futex calls and GIL hand-offs across the idle threads
                self._cond.notify(max(0, target - self._active))
