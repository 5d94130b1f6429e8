"""Blob placement: lock → partial → fetch or link → verify → atomic replace → clean the partial.

The one owner of how a verified blob appears at its final name, used by downloads, ``cache
repair`` and ``cache import``. Under the blob's lock, :meth:`BlobSlot.fill` lets a producer write
the bytes into the partial (a fetch verifies them against the etag; a link or copy comes from a
blob already verified), moves the partial into place in one ``os.replace`` and removes what is
left of it. A partial is deterministic (``<etag>.incomplete``: a failed fetch keeps it when it
holds some bytes, and the next run resumes it) unless partials are process-unique (network
filesystems, :func:`hubcli.fsinfo.unique_partials`: then it is always removed). It is never
written through a link planted at its name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from hubcli.errors import LocalFileError
from hubcli.transfer.partial import (
    INCOMPLETE,
    O_NOFOLLOW,
    discard_partial,
    partial_name,
    state_path_for,
)

T = TypeVar("T")


def link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (a copy where hard links fail), replacing ``dest``; a copy
    creates ``dest`` afresh with ``O_NOFOLLOW``, so nothing planted there is written through."""
    with contextlib.suppress(FileNotFoundError):
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        try:
            with open(src, "rb") as fin:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o666)
                with os.fdopen(fd, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
        except OSError as exc:
            raise LocalFileError(f"Cannot copy {src} to {dest}: {exc.strerror or exc}.") from exc


class BlobSlot:
    """One blob's final path, its partial, and the lock that guards both (a context manager).

    ``with BlobSlot(blob, lock=..., unique=...) as slot:`` holds the lock; inside it,
    :meth:`present` says whether the blob is there and :meth:`fill` places it.
    """

    def __init__(self, blob: Path, *, lock: AbstractContextManager[object], unique: bool) -> None:
        self.blob = blob
        self.unique = unique
        self.partial = partial_name(blob.with_name(f"{blob.name}{INCOMPLETE}"), unique=unique)
        self._lock = lock

    def __enter__(self) -> BlobSlot:
        self._lock.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.__exit__(exc_type, exc, tb)

    def present(self) -> bool:
        """True when the blob is a file at its final name."""
        return self.blob.is_file()

    def fill(self, produce: Callable[[Path], T]) -> T:
        """``produce(partial)`` writes the verified bytes into the partial; it is then moved into
        place atomically and its leftovers (the ranged state file) are removed. When ``produce``
        fails, a process-unique partial is removed and a deterministic one kept for a resume."""
        placed = False
        try:
            try:
                self.blob.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LocalFileError(
                    f"Cannot create {self.blob.parent}: {exc.strerror or exc}."
                ) from exc
            out = produce(self.partial)
            try:
                os.replace(self.partial, self.blob)
            except OSError as exc:
                raise LocalFileError(f"Cannot place {self.blob}: {exc.strerror or exc}.") from exc
            placed = True
            return out
        finally:
            if placed or self.unique or holds_nothing(self.partial):
                discard_partial(self.partial)


def holds_nothing(partial: Path) -> bool:
    """True when a partial kept after a failure has no byte worth resuming: empty, or a
    preallocated ranged file whose state records no finished byte (a refused fetch, a 401 or a
    gated repo, then leaves no trace in the cache)."""
    try:
        size = partial.stat().st_size
    except OSError:
        return True
    state = state_path_for(partial)
    if not state.exists():
        return size == 0
    try:
        done = json.loads(state.read_text(encoding="utf-8")).get("done")
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(done, list) and not any(done)
