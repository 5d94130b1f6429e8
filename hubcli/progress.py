"""Progress reporting: a tiny protocol the transfer engines call, a silent default, a stderr bar.

The engines only ever talk to :class:`Progress`; the CLI decides whether a human is watching and
passes :class:`BarProgress` (tqdm on stderr) or nothing (:class:`NullProgress`). Every method may be
called from several worker threads at once.
"""

from __future__ import annotations

import threading
from typing import IO, Any, Protocol


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


class BarProgress:
    """tqdm bars on a stream (stderr): one overall bar, plus one bar per file above ``big``."""

    def __init__(self, stream: IO[str], *, big: int = 32 * 1024 * 1024, label: str = "") -> None:
        self.stream = stream
        self.big = big
        self.label = label or "download"
        self._lock = threading.Lock()
        self._total: Any = None
        self._bars: dict[str, Any] = {}
        self._slot = 1

    def start(self, total_bytes: int, *, files: int) -> None:
        from tqdm import tqdm

        with self._lock:
            if self._total is None:
                self._total = tqdm(
                    total=total_bytes,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"{self.label} ({files} files)",
                    file=self.stream,
                    leave=True,
                    dynamic_ncols=True,
                    position=0,
                )

    def file_start(self, key: str, *, label: str, size: int) -> None:
        if size < self.big:
            return
        from tqdm import tqdm

        with self._lock:
            self._bars[key] = tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
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
