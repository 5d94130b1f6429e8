"""Where a mirror keeps what it fetched: the adapter between the mirror core and its store.

Blobs are always filled into a local spool file first (concurrent readers follow it, the fill
hashes every byte); once verified, the spool is published:

* file store (``FileMirrorStorage``): ``os.replace`` into ``objects/`` -- the blob's local file;
* object store (``S3MirrorStorage``): sent through the store's verified write (``receive_lfs``
  for LFS objects, ``put_regular`` for regular files; conditional, idempotent), then the spool is
  deleted and the blob is served from the store (ranged GETs). Replicas on the same bucket see
  each other's blobs and never fetch one the bucket holds.

The mirror's records of upstream commits (``<sha>.info.json``, ``<sha>.tree.json``) and its
sha-addressed JSON answers are immutable documents: local files under ``<root>/mirror/`` for a
file store; for an object store, objects under ``<prefix>/mirror/`` written create-only
(``If-None-Match: *``), with a local copy under the replica's scratch directory once read. Branch
pins (``pins.json``, kept ``--revision-ttl``) stay per replica in both.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from hubcli.server.ids import StorageError
from hubcli.server.records import Entry
from hubcli.server.storage import Storage

PIECE = 8 << 20


class MirrorStorage(Protocol):
    local: bool  # blobs are local files (eviction, pins and the shared cache need that)

    def publish(self, entry: Entry, spool: str) -> None:
        """Send the verified ``spool`` into the store (slow; readers keep following it)."""
        ...

    def settle(self, entry: Entry, spool: str) -> str | None:
        """After ``publish``, under the fill's lock: the blob's local file, or None (read it from
        the store); the spool is gone afterwards."""
        ...

    def read_doc(self, path: Path) -> bytes | None: ...
    def write_doc(self, path: Path, data: bytes) -> None: ...


class FileMirrorStorage:
    """A ``file://`` store: today's layout (blobs in ``objects/``, records under ``mirror/``)."""

    local = True

    def __init__(self, store: Storage) -> None:
        self.store = store

    def publish(self, entry: Entry, spool: str) -> None:
        pass

    def settle(self, entry: Entry, spool: str) -> str | None:
        dest = str(self.store.blob_file(entry))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(spool, dest)
        return dest

    def read_doc(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

    def write_doc(self, path: Path, data: bytes) -> None:
        self.store._atomic_write(path, data)


class S3MirrorStorage(FileMirrorStorage):
    """An object store shared by several mirror replicas (``s3://``)."""

    local = False

    def __init__(self, store: Storage, base: Path) -> None:
        super().__init__(store)
        from hubcli.server.store.s3 import S3Storage

        assert isinstance(store, S3Storage)
        self.s3store = store
        self.base = base  # <scratch>/mirror: local copies of the documents

    def publish(self, entry: Entry, spool: str) -> None:
        if entry.sha256:
            self.s3store.receive_lfs(entry.sha256, entry.size, _pieces(spool))
            return
        with open(spool, "rb") as fh:
            data = fh.read()
        if self.s3store.put_regular(data).oid != entry.oid:
            raise StorageError(500, "the spool file changed before it was stored")

    def settle(self, entry: Entry, spool: str) -> str | None:
        with contextlib.suppress(OSError):
            os.unlink(spool)  # readers following it keep their open file
        return None

    def _key(self, path: Path) -> str:
        return "mirror/" + path.relative_to(self.base).as_posix()

    def read_doc(self, path: Path) -> bytes | None:
        data = super().read_doc(path)
        if data is not None:
            return data
        got = self.s3store.s3.get(self._key(path))
        if got is None:
            return None
        with contextlib.suppress(OSError):
            super().write_doc(path, got.data)
        return got.data

    def write_doc(self, path: Path, data: bytes) -> None:
        from hubcli.server.store.s3client import PreconditionFailed

        with contextlib.suppress(PreconditionFailed):  # immutable: another replica wrote it
            self.s3store.s3.put(self._key(path), data, create=True)
        super().write_doc(path, data)


def _pieces(path: str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while buf := fh.read(PIECE):
            yield buf


def mirror_storage(store: Storage, base: Path) -> MirrorStorage:
    """The adapter for ``store``; ``base`` is ``<root>/mirror`` (the documents' local place)."""
    if store.url.startswith("s3://"):
        return S3MirrorStorage(store, base)
    return FileMirrorStorage(store)
