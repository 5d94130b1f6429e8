"""File hashing: streaming sha256 and git blob sha1 (the two ids the Hub names content by).

Large files are read by a helper thread into two rotating 1 MiB buffers while this thread
hashes the other one (both release the GIL), so reading and hashing overlap: 1 GiB from the page
cache hashes in ~0.53 s instead of ~0.65 s here, with 2 MiB of buffers per file.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Generator
from io import BufferedReader
from pathlib import Path

CHUNK_SIZE = 1 << 20  # 1 MiB reads: flat memory, few syscalls
OVERLAP_MIN_SIZE = 8 * CHUNK_SIZE  # below this a reader thread costs more than it saves
EMPTY_BLOB_SHA1 = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Hasher:
    """Incremental sha256 and (optionally) git blob sha1 over the same bytes.

    The git blob sha1 hashes a ``blob <size>\\0`` header first, so it needs the total ``size``
    up front; pass ``size=None`` to compute sha256 only. ``update`` raises ValueError if more
    bytes than the announced size arrive, and ``git_sha1`` does if fewer did.
    """

    def __init__(self, *, size: int | None = None, sha1: bool = True, sha256: bool = True) -> None:
        self._sha256: hashlib._Hash | None = hashlib.sha256() if sha256 else None
        self._sha1: hashlib._Hash | None = None
        self.size = size
        self.count = 0
        if sha1 and size is not None:
            self._sha1 = hashlib.sha1(f"blob {size}\0".encode())

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.count += len(data)
        if self.size is not None and self.count > self.size:
            raise ValueError(f"got {self.count} bytes, more than the announced {self.size}")

    def sha256(self) -> str:
        if self._sha256 is None:
            raise ValueError("sha256 was not requested")
        return self._sha256.hexdigest()

    def git_sha1(self) -> str:
        if self._sha1 is None:
            raise ValueError("git sha1 was not requested (or the size was not known up front)")
        if self.count != self.size:
            raise ValueError(f"got {self.count} bytes, expected {self.size}")
        return self._sha1.hexdigest()


class HashCancelled(Exception):
    """Raised by :func:`hash_file` when its ``stop`` event is set mid-file."""


def _chunks_overlapped(f: BufferedReader, chunk_size: int) -> Generator[memoryview, None, None]:
    """Yield the file's contents in chunks read ahead by a helper thread (two buffers rotate:
    one being filled while the caller hashes the other). A read error is raised here."""
    full: queue.SimpleQueue[tuple[bytearray, int] | BaseException] = queue.SimpleQueue()
    free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    for _ in range(2):
        free.put(bytearray(chunk_size))

    def reader() -> None:
        try:
            while (buf := free.get()) is not None:
                n = f.readinto(buf)
                full.put((buf, n))
                if not n:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            full.put(exc)

    thread = threading.Thread(target=reader, name="hash-read", daemon=True)
    thread.start()
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            if not n:
                return
            yield memoryview(buf)[:n]
            free.put(buf)  # the caller is done with it: it comes back at the next step
    finally:
        free.put(None)  # the reader stops at its next turn (at most one more read)
        thread.join()


def _chunks(f: BufferedReader, chunk_size: int) -> Generator[memoryview, None, None]:
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    while n := f.readinto(buf):
        yield view[:n]


def hash_file(
    path: str | os.PathLike[str],
    *,
    sha1: bool = True,
    sha256: bool = True,
    chunk_size: int = CHUNK_SIZE,
    on_bytes: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[str | None, str | None]:
    """Return ``(sha256 or None, git blob sha1 or None)`` of a file in one streaming pass.

    ``on_bytes`` is told of every chunk hashed; a set ``stop`` event ends the pass early with
    HashCancelled. Raises OSError if the file cannot be read, ValueError if it changed size
    while being read.
    """
    p = Path(path)
    with p.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = Hasher(size=size, sha1=sha1, sha256=sha256)
        if size < chunk_size:  # small file: one read, no buffer to allocate
            h.update(f.read(size + 1))
            if on_bytes is not None:
                on_bytes(h.count)
        else:
            big = size >= max(OVERLAP_MIN_SIZE, 2 * chunk_size)
            chunks = _chunks_overlapped(f, chunk_size) if big else _chunks(f, chunk_size)
            try:
                for chunk in chunks:
                    if stop is not None and stop.is_set():
                        raise HashCancelled(str(p))
                    n = len(chunk)
                    h.update(chunk)
                    if on_bytes is not None:
                        on_bytes(n)
            finally:
                chunks.close()
    if h.count != size:
        raise ValueError(f"{p}: file changed size while being hashed")
    return (h.sha256() if sha256 else None), (h.git_sha1() if sha1 else None)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex of a file, streamed."""
    sha256 = hash_file(path, sha1=False)[0]
    assert sha256 is not None
    return sha256


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """Git blob sha1 (``sha1("blob <size>\\0" + content)``) of a file, streamed."""
    sha1 = hash_file(path, sha1=True, sha256=False)[1]
    assert sha1 is not None
    return sha1


def git_blob_sha1_bytes(data: bytes) -> str:
    """Git blob sha1 of in-memory bytes."""
    h = hashlib.sha1(f"blob {len(data)}\0".encode())
    h.update(data)
    return h.hexdigest()
