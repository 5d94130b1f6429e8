"""File hashing: streaming sha256 and git blob sha1 (the two ids the Hub names content by)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

CHUNK_SIZE = 1 << 20  # 1 MiB reads: flat memory, few syscalls
EMPTY_BLOB_SHA1 = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Hasher:
    """Incremental sha256 and (optionally) git blob sha1 over the same bytes.

    The git blob sha1 hashes a ``blob <size>\\0`` header first, so it needs the total ``size``
    up front; pass ``size=None`` to compute sha256 only. ``update`` raises ValueError if more
    bytes than the announced size arrive, and ``git_sha1`` does if fewer did.
    """

    def __init__(self, *, size: int | None = None, sha1: bool = True) -> None:
        self._sha256 = hashlib.sha256()
        self._sha1: hashlib._Hash | None = None
        self.size = size
        self.count = 0
        if sha1 and size is not None:
            self._sha1 = hashlib.sha1(f"blob {size}\0".encode())

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.count += len(data)
        if self.size is not None and self.count > self.size:
            raise ValueError(f"got {self.count} bytes, more than the announced {self.size}")

    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def git_sha1(self) -> str:
        if self._sha1 is None:
            raise ValueError("git sha1 was not requested (or the size was not known up front)")
        if self.count != self.size:
            raise ValueError(f"got {self.count} bytes, expected {self.size}")
        return self._sha1.hexdigest()


class HashCancelled(Exception):
    """Raised by :func:`hash_file` when its ``stop`` event is set mid-file."""


def hash_file(
    path: str | os.PathLike[str],
    *,
    sha1: bool = True,
    chunk_size: int = CHUNK_SIZE,
    on_bytes: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[str, str | None]:
    """Return ``(sha256, git blob sha1 or None)`` of a file in one streaming pass.

    ``on_bytes`` is told of every chunk hashed; a set ``stop`` event ends the pass early with
    HashCancelled. Raises OSError if the file cannot be read, ValueError if it changed size
    while being read.
    """
    p = Path(path)
    with p.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = Hasher(size=size, sha1=sha1)
        if size < chunk_size:  # small file: one read, no buffer to allocate
            h.update(f.read(size + 1))
            if on_bytes is not None:
                on_bytes(h.count)
        else:
            buf = bytearray(chunk_size)
            view = memoryview(buf)
            while True:
                if stop is not None and stop.is_set():
                    raise HashCancelled(str(p))
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
                if on_bytes is not None:
                    on_bytes(n)
    if h.count != size:
        raise ValueError(f"{p}: file changed size while being hashed")
    return h.sha256(), (h.git_sha1() if sha1 else None)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex of a file, streamed."""
    return hash_file(path, sha1=False)[0]


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """Git blob sha1 (``sha1("blob <size>\\0" + content)``) of a file, streamed."""
    sha1 = hash_file(path, sha1=True)[1]
    assert sha1 is not None
    return sha1


def git_blob_sha1_bytes(data: bytes) -> str:
    """Git blob sha1 of in-memory bytes."""
    h = hashlib.sha1(f"blob {len(data)}\0".encode())
    h.update(data)
    return h.hexdigest()
