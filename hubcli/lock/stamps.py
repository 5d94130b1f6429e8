"""Verification stamps: "this file, unchanged since, hashed to this sha256".

A warm ``hubcli sync --frozen`` must not re-hash gigabytes, yet must notice a file rewritten in
place. A stamp remembers one file's identity and change times, ``(st_dev, st_ino, st_size,
st_mtime_ns, st_ctime_ns)``, with the sha256 its bytes had when hashed. A write, a truncation,
a ``touch``, a ``chmod``, a new hard link or a rename over the file changes ``st_ctime_ns``
(which no unprivileged call can set back), so a matching stamp means the bytes are still the
ones that were hashed; anything else is hashed again.

One JSON file per cache folder under ``<state_dir>/sync-stamps/`` (``$HF_HOME/hubcli``), written
atomically (merged with what another process wrote meanwhile); a lost or corrupt stamp file
only costs a re-hash. Restoring a cache from a CI archive creates new inodes and ctimes, so the
first sync after a restore hashes every file once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path

from hubcli.hashing import sha256_file

STAMP_VERSION = 1
MAX_STAMPS = 200_000  # past this, stamps of files that are gone are dropped on save

Stat = tuple[int, int, int, int, int]


def _stat(path: Path) -> Stat | None:
    """``(dev, ino, size, mtime_ns, ctime_ns)`` of the file ``path`` names (links followed)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _key(st: Stat) -> str:
    return f"{st[0]}:{st[1]}"


class StampStore:
    """The stamps of one cache (thread-safe; :meth:`save` writes what this run learned)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamps: dict[str, list[object]] = self._read()
        self._changed: dict[str, list[object] | None] = {}
        self.hashed = 0  # files hashed by this store (the rest were answered by a stamp)

    @classmethod
    def for_cache(cls, state_dir: Path, cache_dir: Path) -> StampStore:
        name = hashlib.sha256(os.fsencode(os.path.abspath(cache_dir))).hexdigest()[:24]
        return cls(Path(state_dir) / "sync-stamps" / f"{name}.json")

    def _read(self) -> dict[str, list[object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != STAMP_VERSION:
            return {}
        stamps = data.get("stamps")
        if not isinstance(stamps, dict):
            return {}
        return {k: v for k, v in stamps.items() if isinstance(v, list) and len(v) == 5}

    # -- queries --------------------------------------------------------------------------------
    def known(self, path: Path, sha256: str) -> bool:
        """True when a stamp says ``path``, unchanged since it was hashed, has ``sha256``."""
        st = _stat(path)
        if st is None:
            return False
        with self._lock:
            stamp = self._stamps.get(_key(st))
        return stamp is not None and stamp[1:] == [st[2], st[3], st[4], sha256]

    def verify(
        self, path: Path, sha256: str, *, size: int | None = None, force: bool = False
    ) -> bool:
        """True when ``path`` holds bytes hashing to ``sha256`` (and ``size``): by its stamp, or
        (with ``force``, or without a valid stamp) by hashing it, which stamps it when it did
        not change while hashed. An unreadable file is False."""
        st = _stat(path)
        if st is None or (size is not None and st[2] != size):
            return False
        if not force and self.known(path, sha256):
            return True
        try:
            digest = sha256_file(path)
        except (OSError, ValueError):
            return False
        with self._lock:
            self.hashed += 1
        if digest != sha256:
            self.forget(path)
            return False
        if _stat(path) == st:
            self._put(st, sha256, path)
        return True

    # -- updates --------------------------------------------------------------------------------
    def record(self, path: Path, sha256: str) -> None:
        """Stamp ``path`` as holding ``sha256`` (the caller just verified its bytes)."""
        st = _stat(path)
        if st is not None:
            self._put(st, sha256, path)

    def forget(self, path: Path) -> None:
        st = _stat(path)
        if st is None:
            return
        with self._lock:
            if self._stamps.pop(_key(st), None) is not None:
                self._changed[_key(st)] = None

    def _put(self, st: Stat, sha256: str, path: Path) -> None:
        value: list[object] = [os.fspath(path), st[2], st[3], st[4], sha256]
        with self._lock:
            if self._stamps.get(_key(st)) != value:
                self._stamps[_key(st)] = value
                self._changed[_key(st)] = value

    def save(self) -> None:
        """Merge this run's stamps into the file (atomically); errors only cost a re-hash."""
        with self._lock:
            if not self._changed:
                return
            merged = self._read()
            for key, value in self._changed.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            if len(merged) > MAX_STAMPS:
                merged = {k: v for k, v in merged.items() if _still_there(k, v)}
            self._changed.clear()
        doc = {"version": STAMP_VERSION, "stamps": merged}
        tmp = self.path.with_name(f"{self.path.name}.{os.urandom(4).hex()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _still_there(key: str, value: list[object]) -> bool:
    path = value[0]
    if not isinstance(path, str):
        return False
    st = _stat(Path(path))
    return st is not None and _key(st) == key
