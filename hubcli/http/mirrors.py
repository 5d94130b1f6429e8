"""Mirror failover: the order in which hub bases (the endpoint, then the mirrors) are tried.

A :class:`Mirrors` yields the bases in order and is told which one answered: that base moves to
the front for the next request and is remembered among those that served. Both the JSON calls of
the session and the file bodies of the transfer engine fail over through :meth:`Mirrors.call`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class NextMirror(Exception):
    """Raised by an attempt: this base failed, try the next one (``cause`` if none is left)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Mirrors:
    """Ordered hub bases; the one that answers is promoted to the front. Thread-safe."""

    def __init__(self, bases: Sequence[str], *, first: str | None = None) -> None:
        ordered = list(bases)
        if first is not None:
            ordered = [first, *(b for b in ordered if b != first)]
        if not ordered:
            raise ValueError("Mirrors: at least one base is needed.")
        self._bases = ordered
        self._served: list[str] = []
        self._lock = threading.Lock()

    def order(self) -> list[str]:
        """The bases to try, best first."""
        with self._lock:
            return list(self._bases)

    @property
    def first(self) -> str:
        """The base that answered last (the endpoint until one did)."""
        with self._lock:
            return self._bases[0]

    @property
    def served(self) -> list[str]:
        """Every base that answered, in the order they first did."""
        with self._lock:
            return list(self._served)

    def answered(self, base: str) -> None:
        """``base`` answered: try it first from now on, and remember that it served."""
        with self._lock:
            if base in self._bases and self._bases[0] != base:
                self._bases.remove(base)
                self._bases.insert(0, base)
            if base not in self._served:
                self._served.append(base)

    def call(self, attempt: Callable[[str, bool], T]) -> T:
        """``attempt(base, is_last)`` for each base in order until one returns; an attempt raises
        :class:`NextMirror` to go on. When every base failed, the last cause is raised."""
        bases = self.order()
        last: BaseException | None = None
        for i, base in enumerate(bases):
            try:
                out = attempt(base, i == len(bases) - 1)
            except NextMirror as skip:
                last = skip.cause
                continue
            self.answered(base)
            return out
        assert last is not None
        raise last
