"""The content-addressed blob store of the local hub and its atomic temp files.

Layout under ``root``::

    objects/git/ab/<sha1>        regular file contents, named by their git blob sha1
    objects/lfs/ab/<sha256>      LFS contents, named by sha256
    tmp/                         temp files (same filesystem, so os.replace is atomic)
    lfs-grants.jsonl             [user, sha256, size]: LFS objects whose content a user uploaded

The store is shared by every repo, so it never answers "which repo may see this object" (the
per-repo LFS index in ``storage`` does); it only records who proved possession of an object's
content by uploading it.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hubcli.server.ids import SHA256_RE, StorageError, git_blob_sha1
from hubcli.server.records import Entry
from hubcli.server.store.base import lfs_entry

LFS_GRANTS = "lfs-grants.jsonl"


class BlobStore:
    """Thread-safe blob store rooted at a directory: atomic writes, blobs, possession grants."""

    shared = False  # one process: the locks that serialize ref updates are in memory

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.url = f"file://{self.root}"
        self.tmp = self.root / "tmp"
        for sub in ("objects/git", "objects/lfs", "tmp", "repos"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Cheap unique temp names: <pid>-<random per instance>-<thread>-<counter>. They live in
        # tmp/ and never look like a blob name, so a reader can never open a half-written file.
        self._tmp_dir = str(self.tmp)
        self._tmp_tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._tmp_seq = itertools.count()
        self._objects = str(self.root / "objects")
        # Blob fan-out directories known to exist (mkdir is idempotent, so a race is harmless).
        self._blob_dirs: set[str] = set()
        self._lfs_grants: dict[str, dict[str, int]] | None = None
        self._grants_lock = threading.Lock()

    # ---------------------------------------------------------------- atomic files
    def _replace_from_temp(self, dest: str, data: bytes) -> None:
        """Write ``data`` to a fresh temp file in ``tmp/`` and ``os.replace`` it onto ``dest``."""
        tmp = self._write_temp(data)
        try:
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _write_temp(self, data: bytes) -> str:
        """Write ``data`` to a fresh temp file in ``tmp/``; return its path."""
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0)
        while True:
            tmp = f"{self._tmp_dir}/w-{self._tmp_tag}-{threading.get_ident()}-{next(self._tmp_seq)}"
            try:
                fd = os.open(tmp, flags, 0o600)
                break
            except FileExistsError:  # only if another process reuses our tag: try a new name
                self._tmp_tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return tmp

    def _atomic_write(self, dest: Path | str, data: bytes) -> None:
        dest = os.fspath(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        self._replace_from_temp(dest, data)

    def _put_blob(self, kind: str, name: str, data: bytes) -> None:
        """Store content-addressed ``data`` as objects/<kind>/<name[:2]>/<name> unless present."""
        d = f"{self._objects}/{kind}/{name[:2]}"
        dest = f"{d}/{name}"
        if d not in self._blob_dirs:
            os.makedirs(d, exist_ok=True)
            self._blob_dirs.add(d)
        if os.path.exists(dest):
            return
        try:
            self._replace_from_temp(dest, data)
        except FileNotFoundError:  # the fan-out directory was removed behind our back
            self._blob_dirs.discard(d)
            os.makedirs(d, exist_ok=True)
            self._replace_from_temp(dest, data)

    def _write_json(self, dest: Path, obj: Any) -> None:
        self._atomic_write(dest, json.dumps(obj, separators=(",", ":")).encode())

    def new_temp(self) -> tuple[int, str]:
        return tempfile.mkstemp(dir=self.tmp, prefix="up-")

    # ---------------------------------------------------------------- blob store
    def git_path(self, sha1: str) -> Path:
        return self.root / "objects" / "git" / sha1[:2] / sha1

    def lfs_path(self, sha256: str) -> Path:
        if not SHA256_RE.match(sha256):
            raise StorageError(400, f"Invalid oid: {sha256!r}")
        return self.root / "objects" / "lfs" / sha256[:2] / sha256

    def has_lfs(self, sha256: str, size: int | None = None) -> bool:
        try:
            st = self.lfs_path(sha256).stat()
        except (OSError, StorageError):
            return False
        return size is None or st.st_size == size

    def put_regular(self, data: bytes) -> Entry:
        sha1 = git_blob_sha1(data)
        self._put_blob("git", sha1, data)
        return Entry(size=len(data), oid=sha1)

    def stage_regular(self, data: bytes) -> tuple[Entry, str | None]:
        """Write a regular file's content to a temp file; ``publish_regular`` moves it into the
        store, ``discard_temp`` drops it. No lookup here: clients send only files whose content
        changed, so the blob is almost never stored yet; ``publish_regular`` keeps a stored one."""
        sha1 = git_blob_sha1(data)
        return Entry(size=len(data), oid=sha1), self._write_temp(data)

    def publish_regular(self, entry: Entry, tmp: str) -> None:
        d = f"{self._objects}/git/{entry.oid[:2]}"
        if d not in self._blob_dirs:
            os.makedirs(d, exist_ok=True)
            self._blob_dirs.add(d)
        dest = f"{d}/{entry.oid}"
        try:
            try:  # a link, not a rename: a blob stored already stays as it is
                os.link(tmp, dest)
            except FileNotFoundError:  # the fan-out directory was removed behind our back
                os.makedirs(d, exist_ok=True)
                os.link(tmp, dest)
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links
            if not os.path.exists(dest):
                os.replace(tmp, dest)
                return
        os.unlink(tmp)

    @staticmethod
    def discard_temp(tmp: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)

    def put_lfs_bytes(self, data: bytes) -> Entry:
        sha256 = hashlib.sha256(data).hexdigest()
        self._put_blob("lfs", sha256, data)
        return self.lfs_entry(sha256, len(data))

    def adopt_lfs_file(self, tmp_path: str, sha256: str) -> None:
        """Move a verified temp file into the LFS store."""
        dest = self.lfs_path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, dest)

    def receive_lfs(self, sha256: str, size: int, chunks: Iterable[bytes]) -> None:
        """Write ``chunks`` to a temp file, hashing them; move it into the store only if it is
        ``size`` bytes with this sha256 (else ``StorageError(400)``, nothing stored)."""
        fd, tmp = self.new_temp()
        try:
            h = hashlib.sha256()
            n = 0
            with os.fdopen(fd, "wb") as fh:
                for buf in chunks:
                    h.update(buf)
                    fh.write(buf)
                    n += len(buf)
            got = h.hexdigest()
            if n != size or got != sha256:
                raise StorageError(
                    400,
                    f"Uploaded content does not match oid/size (got sha256 {got}, {n} bytes)",
                )
            self.adopt_lfs_file(tmp, sha256)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    lfs_entry = staticmethod(lfs_entry)

    def blob_size(self, entry: Entry) -> int | None:
        try:
            return os.stat(self.blob_file(entry)).st_size
        except (OSError, StorageError):
            return None

    def local_blob_path(self, entry: Entry) -> str | None:
        return str(self.blob_file(entry))

    def open_blob(self, entry: Entry, start: int, length: int) -> Iterator[bytes]:
        with open(self.blob_file(entry), "rb") as fh:
            fh.seek(start)
            while length > 0:
                buf = fh.read(min(length, 1 << 20))
                if not buf:
                    return
                length -= len(buf)
                yield buf

    def presign_blob(self, entry: Entry, filename: str) -> str | None:
        return None

    def close(self) -> None:
        pass

    # ---------------------------------------------------------------- possession grants
    def _grants(self) -> dict[str, dict[str, int]]:
        if self._lfs_grants is None:
            grants: dict[str, dict[str, int]] = {}
            with contextlib.suppress(FileNotFoundError):
                for line in (self.root / LFS_GRANTS).read_text("utf-8", "replace").splitlines():
                    try:
                        user, oid, size = json.loads(line)
                    except (ValueError, TypeError):
                        continue  # a torn last line
                    if isinstance(user, str) and SHA256_RE.match(str(oid)) and type(size) is int:
                        grants.setdefault(user, {})[oid] = size
            self._lfs_grants = grants
        return self._lfs_grants

    def grant_lfs(self, user: str | None, sha256: str, size: int) -> None:
        """Record that ``user`` uploaded the content of LFS object ``sha256`` (``size`` bytes):
        a commit by ``user`` may name it in any repo ``user`` writes to."""
        if not user:
            return
        with self._grants_lock:
            mine = self._grants().setdefault(user, {})
            if mine.get(sha256) == size:
                return
            with open(self.root / LFS_GRANTS, "a", encoding="utf-8") as fh:
                fh.write(json.dumps([user, sha256, size]) + "\n")
            mine[sha256] = size

    def granted_lfs_size(self, user: str | None, sha256: str) -> int | None:
        """The size ``user`` uploaded LFS object ``sha256`` with, None if they never did."""
        if not user:
            return None
        with self._grants_lock:
            return self._grants().get(user, {}).get(sha256)

    def blob_file(self, entry: Entry) -> Path:
        return self.lfs_path(entry.sha256) if entry.sha256 else self.git_path(entry.oid)

    def read_blob(self, entry: Entry) -> bytes:
        return self.blob_file(entry).read_bytes()
