"""Remembered hashes of large local files, so re-running an upload does not read them again.

Hashing a 100 GB folder takes about a minute; a rerun after an interruption, or a no-op upload of
the same folder, should not pay it again. An entry is keyed by the file's absolute path and is
only trusted while the file's size, mtime, ctime, inode and device are unchanged. Like git's
"racy" rule, a file modified within ``RACY_SECONDS`` of the hash is not remembered: a write in
the same timestamp tick could otherwise go unseen. Entries are small JSON files written
atomically; a broken or foreign one is ignored, never fatal.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from hubcli.cache.layout import atomic_write_text
from hubcli.errors import LocalFileError

MIN_SIZE = 16 * 1024 * 1024  # smaller files hash faster than their entry is worth
RACY_SECONDS = 2.0


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class HashCache:
    """sha256 (and git blob sha1, when it was computed) of large files, by path and stat."""

    def __init__(self, directory: Path | None, *, min_size: int = MIN_SIZE) -> None:
        self.directory = directory
        self.min_size = min_size

    def _entry(self, path: Path) -> Path | None:
        if self.directory is None:
            return None
        key = hashlib.sha256(os.fsencode(os.path.abspath(path))).hexdigest()[:40]
        return self.directory / f"{key}.json"

    def get(
        self, path: Path, st: os.stat_result, *, need_sha1: bool
    ) -> tuple[str, str | None] | None:
        """The remembered ``(sha256, sha1 or None)`` if ``path`` is unchanged, else None."""
        entry = self._entry(path)
        if entry is None or st.st_size < self.min_size:
            return None
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("path") != os.path.abspath(path):
            return None
        if data.get("stat") != _identity(st):
            return None
        sha256, sha1 = data.get("sha256"), data.get("sha1")
        if not isinstance(sha256, str) or len(sha256) != 64:
            return None
        if need_sha1 and not (isinstance(sha1, str) and len(sha1) == 40):
            return None
        return sha256, sha1 if isinstance(sha1, str) else None

    def put(
        self,
        path: Path,
        before: os.stat_result,
        after: os.stat_result,
        sha256: str,
        sha1: str | None,
        *,
        started: float,
    ) -> None:
        """Remember the hashes if the file did not change while hashed and is not "racy"
        (modified less than RACY_SECONDS before the hash began, by the wall clock)."""
        entry = self._entry(path)
        if entry is None or before.st_size < self.min_size:
            return
        if _identity(before) != _identity(after):
            return
        if before.st_mtime_ns / 1e9 > started - RACY_SECONDS:
            return
        body = {
            "path": os.path.abspath(path),
            "stat": _identity(before),
            "sha256": sha256,
            "sha1": sha1,
        }
        with contextlib.suppress(LocalFileError):  # an optimisation: never fail the upload
            atomic_write_text(entry, json.dumps(body))
