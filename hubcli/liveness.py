"""Liveness: no server can keep hubcli waiting forever.

* :class:`StallMeter` measures throughput over a sliding window. Time spent inside
  :meth:`StallMeter.excluded` (waiting on a rate limit the user set) is not counted.
* :class:`Watch` holds the liveness rules of one logical call on one thread (a stall meter and/or
  an overall deadline) and the sockets that call is using. A single watchdog thread checks every
  active watch a few times per window and shuts the sockets of a stalled or late call, so that even
  a blocking read (response headers trickled one byte at a time, a redirect body) ends.
* :func:`requested_wait` reads how long a 429/503 asks to wait: ``Retry-After`` (seconds or an HTTP
  date) and the IETF ``RateLimit`` / ``RateLimit-Policy`` headers (``"resolvers";r=0;t=87``).
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from hubcli.units import human_rate

STALL = "stall"
DEADLINE = "deadline"
_RESOLUTION = 32  # samples kept per window


class StallMeter:
    """Bytes received over the last ``window`` seconds of active time (thread-safe)."""

    def __init__(
        self, window: float, min_rate: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.min_rate = min_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._excluded = 0.0
        self._paused_at: float | None = None
        self._pause_depth = 0
        self.started = self.now()
        self.total = 0
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])

    def now(self) -> float:
        """Active time: the clock minus every interval spent inside :meth:`excluded`."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        t = self._paused_at if self._paused_at is not None else self._clock()
        return t - self._excluded

    @contextlib.contextmanager
    def excluded(self) -> Iterator[None]:
        """Time spent in this block does not count (a wait the user asked for, e.g. a rate cap)."""
        with self._lock:
            if self._pause_depth == 0:
                self._paused_at = self._clock()
            self._pause_depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._pause_depth -= 1
                if self._pause_depth == 0 and self._paused_at is not None:
                    self._excluded += self._clock() - self._paused_at
                    self._paused_at = None

    def add(self, nbytes: int) -> None:
        with self._lock:
            t = self._now_locked()
            self.total += nbytes
            s = self._samples
            if len(s) >= 2 and t - s[-2][0] < self.window / _RESOLUTION:
                s[-1] = (t, self.total)  # coalesce: at most ~_RESOLUTION samples per window
            else:
                s.append((t, self.total))
            self._trim(t - self.window)

    def _trim(self, edge: float) -> None:
        """Drop samples older than ``edge``, keeping the last one at or before it (the base)."""
        s = self._samples
        while len(s) >= 2 and s[1][0] <= edge:
            s.popleft()

    def stalled(self) -> bool:
        """True once a whole window has passed with fewer than ``min_rate * window`` bytes."""
        if self.min_rate <= 0:
            return False
        with self._lock:
            t = self._now_locked()
            if t - self.started < self.window:
                return False
            self._trim(t - self.window)
            return self.total - self._samples[0][1] < self.min_rate * self.window

    def describe(self) -> str:
        return (
            f"less than {human_rate(self.min_rate)} for {human_duration(self.window)}; "
            "see HUBCLI_STALL_MIN_RATE and HUBCLI_STALL_WINDOW"
        )


def shut_socket(sock: socket.socket) -> None:
    """End every blocked read on ``sock`` (also for TLS: the raw socket is shut)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watch:
    """The liveness rules of one call on one thread: a stall meter, a deadline, or both.

    ``grace`` is how long a new connection may take before a stall verdict (judged on the meter's
    whole window, which spans earlier attempts) can cut it; the deadline is on ``time.monotonic``.
    """

    def __init__(
        self,
        *,
        meter: StallMeter | None = None,
        deadline: float | None = None,
        grace: float = 0.0,
    ) -> None:
        self.meter = meter
        self.deadline = deadline
        self.grace = grace
        self.reason: str | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._attempt_start = meter.now() if meter else 0.0

    @property
    def tick(self) -> float:
        window = self.meter.window if self.meter else 10.0
        return min(1.0, max(0.02, window / 10))

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def new_attempt(self) -> None:
        """A new connection attempt: forget the old sockets and give the new one its grace."""
        with self._lock:
            self._socks.clear()
            if self.reason == STALL:
                self.reason = None
            self._attempt_start = self.meter.now() if self.meter else 0.0

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if self.reason is not None:
                shut_socket(sock)
            elif all(s is not sock for s in self._socks):
                self._socks.append(sock)

    def release(self) -> None:
        with self._lock:
            self._socks.clear()

    def verdict(self) -> str | None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return DEADLINE
        meter = self.meter
        if meter is not None and meter.stalled():
            with self._lock:
                started = self._attempt_start
            if meter.now() - started >= self.grace:
                return STALL
        return None

    def check(self) -> str | None:
        """Cut the call if it is late or stalled; return why it was cut (None: it is alive)."""
        if self.reason is None:
            why = self.verdict()
            if why is not None:
                self.cut(why)
        return self.reason

    def cut(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            for sock in self._socks:
                shut_socket(sock)
            self._socks.clear()


class _Watchdog:
    """One daemon thread that cuts stalled or late calls; idle (no wake-ups) without watches."""

    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hubcli-watchdog")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify_all()

    def remove(self, watch: Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._watches:
                    self._cond.wait()
                watches = list(self._watches)
            for watch in watches:
                watch.check()
            time.sleep(min(w.tick for w in watches))


_WATCHDOG = _Watchdog()
_LOCAL = threading.local()


def current_watch() -> Watch | None:
    stack: list[Watch] = getattr(_LOCAL, "stack", [])
    return stack[-1] if stack else None


@contextlib.contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Make ``watch`` the current watch of this thread and let the watchdog enforce it."""
    stack: list[Watch] = getattr(_LOCAL, "stack", None) or []
    _LOCAL.stack = stack
    stack.append(watch)
    _WATCHDOG.add(watch)
    try:
        yield watch
    finally:
        _WATCHDOG.remove(watch)
        watch.release()
        stack.pop()


def attach_current(sock: socket.socket | None) -> None:
    """Called by the HTTP connection classes: the current call now uses ``sock``."""
    watch = current_watch()
    if watch is not None:
        watch.attach(sock)


# -- rate limits ------------------------------------------------------------------------------
def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` asks for: delta-seconds or an HTTP date (``now``: epoch)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf).strip())
    return [p for p in parts if p]


def _sf_list(value: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list: ``"name";k=v;k2=v2, other;k=v`` -> [(name, {k: v})]."""
    items = []
    for member in _split_outside_quotes(value, ","):
        pieces = _split_outside_quotes(member, ";")
        name = pieces[0].strip().strip('"')
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            key, eq, val = piece.partition("=")
            if eq:
                params[key.strip().lower()] = val.strip().strip('"')
            else:
                params.setdefault("", key.strip().strip('"'))  # a bare second name (the Hub's)
        items.append((name, params))
    return items


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    if number is None or not number >= 0 or number == float("inf"):
        return None
    return number


def _policy_windows(headers: Mapping[str, str]) -> dict[str, float]:
    windows: dict[str, float] = {}
    for name, params in _sf_list(headers.get("RateLimit-Policy") or ""):
        w = _number(params.get("w"))
        if w is not None:
            for key in {name, params.get("", name)}:
                windows[key] = w
    return windows


def parse_ratelimit(headers: Mapping[str, str]) -> float | None:
    """Seconds until an exhausted quota resets, from the IETF RateLimit headers, else None.

    Understands ``RateLimit: "policy";r=0;t=87`` (several policies: the longest wait), the older
    ``RateLimit: limit=100, remaining=0, reset=87`` and ``RateLimit-Remaining`` /
    ``RateLimit-Reset``. With ``r=0`` and no ``t``, the policy's window ``w`` from
    ``RateLimit-Policy`` is the wait.
    """
    waits: list[float] = []
    flat: dict[str, str] = {}
    windows = _policy_windows(headers)
    for name, params in _sf_list(headers.get("RateLimit") or ""):
        if "=" in name:  # the older dictionary form: limit=.., remaining=.., reset=..
            key, _, val = name.partition("=")
            flat[key.strip().lower()] = val.strip()
            continue
        remaining = _number(params.get("r"))
        if remaining is None or remaining >= 1:
            continue
        wait = _number(params.get("t"))
        if wait is None:
            wait = windows.get(name) or (max(windows.values()) if windows else None)
        if wait is not None:
            waits.append(wait)
    remaining_s = flat.get("remaining", headers.get("RateLimit-Remaining"))
    reset_s = flat.get("reset", headers.get("RateLimit-Reset"))
    remaining = _number(remaining_s)
    reset = _number(reset_s)
    if remaining is not None and remaining < 1 and reset is not None:
        waits.append(reset)
    return max(waits) if waits else None


def requested_wait(headers: Mapping[str, str], now: float) -> float | None:
    """How long the server asks to wait before the next try (the larger of the two headers)."""
    waits = [
        w
        for w in (parse_retry_after(headers.get("Retry-After"), now), parse_ratelimit(headers))
        if w is not None
    ]
    return max(waits) if waits else None


# -- wording ----------------------------------------------------------------------------------
def human_duration(seconds: float) -> str:
    """``87 s``, ``4 min (240 s)``, ``24 h (86400 s)``, ``3 days (259200 s)``."""
    if seconds < 90:
        return f"{seconds:g} s" if seconds < 10 else f"{seconds:.0f} s"
    exact = f" ({seconds:.0f} s)"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min{exact}"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h{exact}"
    return f"{seconds / 86400:.0f} days{exact}"
