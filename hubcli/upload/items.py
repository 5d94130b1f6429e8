"""The per-file work items of an upload and the hashing stage that fills in their ids."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from hubcli.client import HubClient
from hubcli.errors import LocalFileError
from hubcli.hashing import git_blob_sha1_bytes, hash_file, sha256_bytes
from hubcli.progress import Progress
from hubcli.repo import RepoRef
from hubcli.upload.hash_cache import HashCache
from hubcli.upload.plan import LocalFile
from hubcli.upload.results import UploadMode, UploadStatus

__all__ = [
    "INLINE_SIZE",
    "KEEP_CONTENT_BUDGET",
    "REGULAR_MAX_SIZE",
    "SAMPLE_SIZE",
    "Item",
    "UploadContext",
    "cannot_read",
    "finish_hashing",
    "read_whole",
    "start_hashing",
]

SAMPLE_SIZE = 512
REGULAR_MAX_SIZE = 10 * 1024 * 1024  # the Hub stores larger files through LFS only
KEEP_CONTENT_BUDGET = 32 * 1024 * 1024  # small files' bytes kept from the hash pass for commits
INLINE_SIZE = 256 * 1024  # below this, a file is read whole on the main thread
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


@dataclass(slots=True)
class Item:
    file: LocalFile
    mode: UploadMode = "regular"
    ignore: bool = False
    remote_oid: str | None = None
    sha256: str = ""
    sha1: str | None = None
    status: UploadStatus = "uploaded"
    sample: bytes = b""
    data: bytes | None = None  # content read while hashing (small files), reused by the commit


@dataclass
class UploadContext:
    client: HubClient
    ref: RepoRef
    revision: str
    create_pr: bool
    private: bool
    create_repo: bool
    space_sdk: str | None
    say: Callable[[str], None]
    hash_progress: Progress
    workers: int
    hashes: HashCache
    head: str | None = None
    dry_run: bool = False  # only read-only calls: nothing is created, sent or committed
    missing: bool = False  # a dry run found no repo or branch: everything would be added


def cannot_read(f: LocalFile, exc: OSError) -> LocalFileError:
    return LocalFileError(f"{f.local_path}: cannot read ({exc.strerror}).")


def _read_small(ctx: UploadContext, it: Item, keep: bool) -> None:
    """One read of a small file gives its sample, both ids and (if ``keep``) its content."""
    f = it.file
    try:
        data = read_whole(f.local_path, f.size)
    except OSError as exc:
        raise cannot_read(f, exc) from exc
    if len(data) != f.size:
        raise LocalFileError(f"{f.local_path}: the file changed while being read.")
    it.sample = data[:SAMPLE_SIZE]
    it.sha256 = sha256_bytes(data)
    it.sha1 = git_blob_sha1_bytes(data)
    if keep:
        it.data = data
    ctx.hash_progress.advance(f.path_in_repo, f.size)


def read_whole(path: os.PathLike[str] | str, size: int) -> bytes:
    """A small file's bytes (up to ``size + 1``, so a file that grew shows): plain ``os.read``
    calls, no buffered file object (half the cost per file of ``open().read()``)."""
    fd = os.open(path, _O_READ)
    try:
        want = size + 1
        data = os.read(fd, want)
        if 0 < len(data) < size:  # a short read (rare for regular files): read on to EOF
            parts = [data]
            got = len(data)
            while got < want and (more := os.read(fd, want - got)):
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data
    finally:
        os.close(fd)


def _read_sample(it: Item) -> None:
    try:
        with it.file.local_path.open("rb") as fh:
            it.sample = fh.read(SAMPLE_SIZE)
    except OSError as exc:
        raise cannot_read(it.file, exc) from exc


def _hash_big(ctx: UploadContext, it: Item, stop: threading.Event) -> None:
    """sha256 of a large file, streamed (and its git sha1 if it may still be a regular file)."""
    key = it.file.path_in_repo
    path = it.file.local_path
    need_sha1 = it.file.size <= REGULAR_MAX_SIZE
    ctx.hash_progress.file_start(key, label=key, size=it.file.size)
    try:
        before = path.stat()
        known = ctx.hashes.get(path, before, need_sha1=need_sha1)
        if known is not None and before.st_size == it.file.size:
            it.sha256, it.sha1 = known
            ctx.hash_progress.advance(key, it.file.size)
            return
        started = time.time()
        sha256, it.sha1 = hash_file(
            path,
            sha1=need_sha1,
            on_bytes=lambda n: ctx.hash_progress.advance(key, n),
            stop=stop,
        )
        assert sha256 is not None
        it.sha256 = sha256
        ctx.hashes.put(path, before, path.stat(), it.sha256, it.sha1, started=started)
    except OSError as exc:
        raise cannot_read(it.file, exc) from exc
    except ValueError as exc:
        raise LocalFileError(f"{it.file.local_path}: {exc}.") from exc
    finally:
        ctx.hash_progress.file_done(key)


def start_hashing(
    ctx: UploadContext,
    items: list[Item],
    pool: ThreadPoolExecutor,
    stop: threading.Event,
    *,
    on_ready: Callable[[list[Item]], None] | None = None,
    chunk: int = 256,
) -> list[Future[None]]:
    """Hash everything, telling ``on_ready`` of each ``chunk`` of items whose samples are read
    (the preupload asks about them while the rest is read).

    Small files are read once, here (sample, sha256, sha1, and their bytes kept for the commit
    while a budget lasts); large files get their sample here and are hashed in ``pool`` while
    the preupload round trips run, so hashing never waits on the network.
    """
    futures: list[Future[None]] = []
    for it in items:
        if it.file.size >= INLINE_SIZE:
            _read_sample(it)
            futures.append(pool.submit(_hash_big, ctx, it, stop))
    budget = KEEP_CONTENT_BUDGET
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        for it in part:
            if it.file.size < INLINE_SIZE:
                keep = it.file.size <= budget
                _read_small(ctx, it, keep)
                if keep:
                    budget -= it.file.size
        if on_ready is not None:
            on_ready(part)
    return futures


def finish_hashing(futures: list[Future[None]], stop: threading.Event) -> None:
    """Wait for the hashing pool; on the first error, stop the others and raise it."""
    for fut in futures:
        try:
            fut.result()
        except BaseException:
            stop.set()
            raise
