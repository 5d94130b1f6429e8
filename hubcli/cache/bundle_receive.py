"""``cache import``, step 1: receive a bundle into a private staging folder, verified whole.

The tar is streamed; its manifest (first member) is validated whole before any blob is read
(:mod:`hubcli.cache.bundle_manifest`); each blob is hashed against its name while it is written
into a staging folder inside the cache (``.locks/.hubcli-staging/<random>``, held by a lock; a
folder whose lock is free belongs to a crashed import and is swept). Nothing in the cache is
touched here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hubcli.cache.bundle_manifest import Manifest, parse_manifest
from hubcli.cache.layout import RepoCache
from hubcli.cache.links import LinkRoots, check_blob
from hubcli.errors import IntegrityError, LocalFileError, UnsafePathError
from hubcli.hashing import ContentHasher

MANIFEST = "hubcli-bundle.json"
MAX_MANIFEST = 64 << 20
CHUNK = 1 << 20
# Inside ``.locks``, which huggingface_hub's cache scan skips: a staging folder left by a crash
# never shows up as a corrupted repo in ``hf cache scan`` (scan.py still skips ``.hubcli-*``).
STAGING = ".locks/.hubcli-staging"


# -- staging ----------------------------------------------------------------------------------
class Staging:
    """A private folder inside the cache, held by a lock; removed on exit. A folder whose lock
    is free belongs to a crashed import and is swept by the next one."""

    def __init__(self, cache_dir: Path) -> None:
        from filelock import FileLock

        self.root = cache_dir / STAGING
        name = os.urandom(8).hex()
        self.path = self.root / name
        self._lock_path = self.root / f"{name}.lock"
        self._lock = FileLock(str(self._lock_path), timeout=0)

    def __enter__(self) -> Staging:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
            self._sweep()
            self.path.mkdir()
        except OSError as exc:
            self.__exit__()
            raise LocalFileError(f"Cannot write into {self.root}: {exc.strerror or exc}.") from exc
        return self

    def __exit__(self, *_exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._lock_path.unlink()
        with contextlib.suppress(OSError):
            self._lock.release()
        for folder in (self.root, self.root.parent):  # only when empty: no other import, no lock
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _sweep(self) -> None:
        from filelock import FileLock, Timeout

        for entry in os.scandir(self.root):
            if not entry.is_dir(follow_symlinks=False) or entry.path == str(self.path):
                continue
            lock = FileLock(str(self.root / f"{entry.name}.lock"), timeout=0)
            try:
                with lock:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        os.unlink(lock.lock_file)
            except (Timeout, OSError):
                continue


# -- receive ----------------------------------------------------------------------------------
def _refuse(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} has an absolute path.")
    if ".." in name.replace("\\", "/").split("/"):
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} escapes the cache (..).")
    if member.issym() or member.islnk():
        raise UnsafePathError(
            f"Refusing bundle: member {name[:120]!r} is a link (to {member.linkname[:120]!r})."
        )
    if member.isdev() or member.isfifo():
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} is a device or fifo.")
    if not member.isreg():
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} is not a regular file.")


def _needed_blobs(cache_dir: Path, manifest: Manifest, roots: LinkRoots) -> set[str]:
    """Blobs some repo of the bundle lacks (absent, dangling or breaking the link rule)."""
    needed: set[str] = set()
    for plan in manifest.repos:
        rc = RepoCache(cache_dir, plan.ref)
        for etag in plan.etags():
            if etag not in needed and not check_blob(rc.blob_path(etag), roots).ok:
                needed.add(etag)
    return needed


def _check_space(stage: Path, manifest: Manifest, needed: set[str]) -> None:
    want = sum(manifest.blobs[e] for e in needed)
    try:
        free = shutil.disk_usage(stage).free
    except OSError:
        return
    if want > free:
        raise LocalFileError(
            f"Not enough space in {stage.parent.parent}: the bundle needs {want} bytes, "
            f"{free} are free."
        )


def _copy_verified(src: IO[bytes], etag: str, size: int, dest: Path | None) -> None:
    hasher = ContentHasher(etag, size, what="blob", error=IntegrityError)
    out = open(dest, "xb") if dest is not None else None  # noqa: SIM115 - closed below
    try:
        got = 0
        while chunk := src.read(CHUNK):
            got += len(chunk)
            hasher.update(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if got != size or not hasher.matches():
        raise IntegrityError(
            f"Refusing bundle: blob {etag} does not match its hash (got {hasher.hexdigest()})."
        )


@dataclass
class Received:
    manifest: Manifest
    staged: dict[str, Path]  # etag -> verified file in the staging folder
    seen: set[str]  # every blob the tar carried (all verified)


def receive(cache_dir: Path, bundle: Path, stage: Path, roots: LinkRoots) -> Received:
    """Read and verify the whole bundle into ``stage``; raise before the cache is touched."""
    try:
        fh = open(bundle, "rb")  # noqa: SIM115 - closed by the `with` below
    except OSError as exc:
        raise LocalFileError(f"Cannot read bundle {bundle}: {exc.strerror or exc}.") from exc
    with fh:
        try:
            with tarfile.open(fileobj=fh, mode="r|*") as tf:
                return _receive_members(cache_dir, bundle, tf, stage, roots)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise IntegrityError(f"Bundle {bundle} is damaged or not a tar: {exc}.") from exc
        except OSError as exc:
            raise LocalFileError(f"Cannot import {bundle}: {exc.strerror or exc}.") from exc


def _receive_members(
    cache_dir: Path, bundle: Path, tf: tarfile.TarFile, stage: Path, roots: LinkRoots
) -> Received:
    got: Received | None = None
    needed: set[str] = set()
    (stage / "blobs").mkdir()
    for index, member in enumerate(tf):
        _refuse(member)
        if index == 0:
            if member.name != MANIFEST or member.size > MAX_MANIFEST:
                raise IntegrityError(f"Not a hubcli bundle: {bundle} has no manifest first.")
            src = tf.extractfile(member)
            assert src is not None
            got = Received(parse_manifest(src.read()), {}, set())
            needed = _needed_blobs(cache_dir, got.manifest, roots)
            _check_space(stage, got.manifest, needed)
            continue
        assert got is not None
        kind, _, etag = member.name.partition("/")
        if kind != "blobs" or etag not in got.manifest.blobs or etag in got.seen:
            raise UnsafePathError(f"Refusing bundle: unexpected member {member.name[:120]!r}.")
        size = got.manifest.blobs[etag]
        if member.size != size:
            raise IntegrityError(f"Refusing bundle: blob {etag} has the wrong size.")
        src = tf.extractfile(member)
        assert src is not None
        dest = stage / "blobs" / etag if etag in needed else None
        _copy_verified(src, etag, size, dest)
        got.seen.add(etag)
        if dest is not None:
            got.staged[etag] = dest
    if got is None:
        raise IntegrityError(f"Not a hubcli bundle: {bundle} is empty.")
    for etag in sorted(needed - got.seen):
        raise IntegrityError(f"Refusing bundle: blob {etag} is missing from it.")
    return got
