"""Progress reporting: a tiny protocol the transfer engines call, a silent default, a stderr bar.

The engines only ever talk to :class:`Progress`; the CLI decides whether a human is watching and
passes :class:`BarProgress` (tqdm on stderr) or nothing (:class:`NullProgress`). Every method may be
called from several worker threads at once.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import IO, Any, Protocol

from hubcli.units import human_rate, human_size


class Progress(Protocol):
    """What a transfer reports: the plan, bytes as they land, each file's end, the end."""

    def start(self, total_bytes: int, *, files: int) -> None:
        """The work ahead: bytes still to obtain and the number of files involved."""

    def file_start(self, key: str, *, label: str, size: int) -> None:
        """A file begins (``key`` is unique per transfer, ``label`` is for humans)."""

    def advance(self, key: str, nbytes: int) -> None:
        """``nbytes`` more bytes of ``key`` are on disk (fetched, or found already there)."""

    def file_done(self, key: str) -> None:
        """``key`` is finished (successfully or not)."""

    def done(self) -> None:
        """The whole transfer is over; release the terminal."""


class NullProgress:
    """Reports nothing: the library default."""

    def start(self, total_bytes: int, *, files: int) -> None:
        return None

    def file_start(self, key: str, *, label: str, size: int) -> None:
        return None

    def advance(self, key: str, nbytes: int) -> None:
        return None

    def file_done(self, key: str) -> None:
        return None

    def done(self) -> None:
        return None


_BAR_FORMAT = "{l_bar}{bar}| {size_n}/{size_total} [{elapsed}<{remaining}, {size_rate}]"


@cache
def _bar_class() -> Any:
    """A tqdm whose byte counts and rate are :func:`hubcli.units.human_size` (decimal units, as
    every other size hubcli prints), built on first use: tqdm is not imported at start-up."""
    from tqdm import tqdm

    class _SizeBar(tqdm):  # type: ignore[misc]  # tqdm is untyped (Any)
        @staticmethod
        def format_meter(n: float, total: float | None, elapsed: float, **kwargs: Any) -> str:
            rate = kwargs.get("rate")
            if rate is None and elapsed:
                rate = (n - kwargs.get("initial", 0)) / elapsed
            kwargs.update(
                unit_scale=False,
                bar_format=_BAR_FORMAT,
                size_n=human_size(n),
                size_total=human_size(total) if total else "?",
                size_rate=human_rate(rate) if rate else "? B/s",
            )
            text: str = tqdm.format_meter(n, total, elapsed, **kwargs)
            return text

    return _SizeBar


class BarProgress:
    """tqdm bars on a stream (stderr): one overall bar, plus one bar per file above ``big``;
    sizes and rates in the decimal units of :mod:`hubcli.units`."""

    def __init__(self, stream: IO[str], *, big: int = 32 * 1024 * 1024, label: str = "") -> None:
        self.stream = stream
        self.big = big
        self.label = label or "download"
        self._lock = threading.Lock()
        self._total: Any = None
        self._bars: dict[str, Any] = {}
        self._slot = 1

    def start(self, total_bytes: int, *, files: int) -> None:
        bar = _bar_class()
        with self._lock:
            if self._total is None:
                self._total = bar(
                    total=total_bytes,
                    unit="B",
                    desc=f"{self.label} ({files} files)",
                    file=self.stream,
                    leave=True,
                    dynamic_ncols=True,
                    position=0,
                )

    def file_start(self, key: str, *, label: str, size: int) -> None:
        if size < self.big:
            return
        bar = _bar_class()
        with self._lock:
            self._bars[key] = bar(
                total=size,
                unit="B",
                desc=label[-40:],
                file=self.stream,
                leave=False,
                dynamic_ncols=True,
                position=self._slot,
            )
            self._slot += 1

    def advance(self, key: str, nbytes: int) -> None:
        with self._lock:
            if self._total is not None:
                self._total.update(nbytes)
            bar = self._bars.get(key)
            if bar is not None:
                bar.update(nbytes)

    def file_done(self, key: str) -> None:
        with self._lock:
            bar = self._bars.pop(key, None)
            if bar is not None:
                bar.close()
                self._slot = max(1, self._slot - 1)

    def done(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()
            if self._total is not None:
                self._total.close()
                self._total = None
