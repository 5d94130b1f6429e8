"""``--max-size``: the mirror's blob store (``objects/``) kept under a byte budget by removing the
least recently used blobs that no pinned ref (``--pin-file``) reaches.

"Used" means stored by a fill or served from the store; the time is kept in memory and written to
the blob's atime (``os.utime``, at most once a minute per blob, whatever the mount's atime
options), so the order survives a restart. Eviction runs after each fill that takes the store over
the budget, and at start. A removed blob is simply fetched again when asked for (the store is a
cache: everything in it can be refetched and verified).

The pin file, one ref a line (``#`` comments)::

    org/name                # a model's main branch
    org/name@v1.2           # a tag or branch
    datasets/org/name@main  # datasets/ and spaces/ as in the Hub's URLs
    org/name@0123...cdef    # a commit

A ref protects the blobs of the commit it is pinned to now (see ``--revision-ttl``) or, for a
commit sha, of that commit, once the mirror knows the commit's file list.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hubcli.server.ids import validate_repo_id
from hubcli.server.mirror.metrics import Metrics

TOUCH_EVERY = 60.0  # seconds between two atime writes of one blob


class PinFileError(ValueError):
    """A pin file that cannot be read (the message names the line)."""


def load_pin_file(path: str | Path) -> list[tuple[str, str, str]]:
    """(repo type, repo id, revision) of every ref of the pin file."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise PinFileError(f"{path}: {e.strerror or e}") from None
    out: list[tuple[str, str, str]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, rev = line.partition("@")
        repo_type = "model"
        for t in ("dataset", "space", "model"):
            if name.startswith(f"{t}s/"):
                repo_type, name = t, name[len(t) + 2 :]
        try:
            validate_repo_id(name)
        except Exception:
            raise PinFileError(f"{path}:{n}: expected [datasets/|spaces/]ns/name[@rev]") from None
        out.append((repo_type, name, rev or "main"))
    return out


class Evictor:
    def __init__(
        self,
        objects: Path,
        max_size: int,
        protected: Callable[[], set[str]],
        metrics: Metrics,
    ) -> None:
        self.objects = objects
        self.max_size = max_size
        self.protected = protected
        self.metrics = metrics
        self._lock = threading.Lock()
        self._evicting = threading.Lock()
        self._used: dict[str, float] = {}
        self._touched: dict[str, float] = {}
        self.total = sum(size for _, size, _ in self._scan())
        metrics.set("store_bytes", self.total)

    def _scan(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every stored blob."""
        out: list[tuple[float, int, Path]] = []
        for p in self.objects.glob("*/*/*"):
            try:
                st = os.stat(p)
            except OSError:
                continue
            with self._lock:
                used = self._used.get(str(p), 0.0)
            out.append((max(used, st.st_atime, st.st_mtime), st.st_size, p))
        return out

    def touch(self, path: str) -> None:
        """``path`` was just used (stored or served)."""
        now = time.time()
        with self._lock:
            self._used[path] = now
            last = self._touched.get(path, 0.0)
            if now - last < TOUCH_EVERY:
                return
            self._touched[path] = now
        with contextlib.suppress(OSError):
            st = os.stat(path)
            os.utime(path, ns=(int(now * 1e9), st.st_mtime_ns))

    def stored(self, path: str, size: int) -> None:
        """A fill published ``path``: count it, and evict if the store is now over budget."""
        self.touch(path)
        with self._lock:
            self.total += size
            over = self.total > self.max_size
        self.metrics.set("store_bytes", self.total)
        if over:
            self.evict()

    def evict(self) -> list[str]:
        """Remove least recently used unpinned blobs until the store fits; their names."""
        if not self._evicting.acquire(blocking=False):
            return []  # another thread is at it
        try:
            blobs = sorted(self._scan())
            total = sum(size for _, size, _ in blobs)
            removed: list[str] = []
            if total > self.max_size:
                keep = self.protected()
                for _, size, path in blobs:
                    if total <= self.max_size:
                        break
                    if path.name in keep:
                        continue
                    try:
                        os.unlink(path)
                    except OSError:
                        continue
                    total -= size
                    removed.append(path.name)
                    self.metrics.inc("evictions_total")
                    self.metrics.inc("evicted_bytes_total", size)
                    with self._lock:
                        self._used.pop(str(path), None)
                        self._touched.pop(str(path), None)
            with self._lock:
                self.total = total
            self.metrics.set("store_bytes", total)
            return removed
        finally:
            self._evicting.release()
