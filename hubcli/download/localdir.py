"""The ``--local-dir`` target: real files in a folder plus huggingface_hub's download metadata.

Layout (the same as huggingface_hub 2.x, so either tool can skip or resume what the other did)::

    DIR/<path>                                         real files, no symlinks
    DIR/.cache/huggingface/.gitignore                  "*"
    DIR/.cache/huggingface/CACHEDIR.TAG
    DIR/.cache/huggingface/download/<path>.metadata    "<commit>\\n<etag>\\n<unix time>\\n"
    DIR/.cache/huggingface/download/<path>.lock
    DIR/.cache/huggingface/download/<dir>/<b64>.<etag>.incomplete   in-flight (resumable) bytes
    DIR/.cache/huggingface/trees/<commit>.json         the listing, as in the cache
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.cache.layout import (
    CACHEDIR_TAG,
    atomic_write_text,
    checked_commit,
    read_tree_file,
    safe_join,
    write_tree_file,
)
from hubcli.cache.locks import FlockLock
from hubcli.errors import LocalFileError, UnsafePathError
from hubcli.hashing import is_content_id
from hubcli.repo import validate_repo_path

if TYPE_CHECKING:
    from hubcli.models import FileEntry


@dataclass(frozen=True)
class LocalMetadata:
    """One ``.metadata`` file: the commit and etag a local file came from, and when."""

    commit: str
    etag: str
    timestamp: float


class LocalDir:
    """A ``--local-dir`` folder. Every repo path goes through :func:`safe_join` first."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.meta_root = self.root / ".cache" / "huggingface"

    def prepare(self) -> None:
        """Create the folder and the bookkeeping files huggingface_hub expects."""
        try:
            (self.meta_root / "download").mkdir(parents=True, exist_ok=True)
            gitignore = self.meta_root / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*", encoding="utf-8")
            tag = self.meta_root / "CACHEDIR.TAG"
            if not tag.exists():
                atomic_write_text(tag, CACHEDIR_TAG)
        except OSError as exc:
            raise LocalFileError(f"Cannot prepare {self.root}: {exc.strerror or exc}.") from exc

    # -- paths ------------------------------------------------------------------------------
    def file_path(self, rel: str) -> Path:
        return safe_join(self.root, rel)

    def metadata_path(self, rel: str) -> Path:
        validate_repo_path(rel)
        return safe_join(self.meta_root / "download", rel + ".metadata")

    def lock_path(self, rel: str) -> Path:
        return self.metadata_path(rel).with_suffix(".lock")

    def incomplete_path(self, rel: str, etag: str) -> Path:
        """Deterministic temp name (so a later run resumes it); huggingface_hub's base name."""
        if not is_content_id(etag):
            raise UnsafePathError(
                f"Refusing {str(etag)[:80]!r} in a temp name: not a content hash."
            )
        meta = self.metadata_path(rel)
        short = base64.urlsafe_b64encode(hashlib.sha1(meta.name.encode()).digest()).decode()
        return meta.parent / f"{short}.{etag}.incomplete"

    def tree_path(self, commit: str) -> Path:
        return self.meta_root / "trees" / f"{checked_commit(commit)}.json"

    def lock(self, rel: str) -> FlockLock:
        path = self.lock_path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        return FlockLock(path)

    # -- metadata ---------------------------------------------------------------------------
    def read_metadata(self, rel: str) -> LocalMetadata | None:
        """The metadata of ``rel`` if it is still valid for the file on disk.

        Like huggingface_hub: unparsable metadata is deleted; metadata older than the file (more
        than 1 s) or without the file is ignored.
        """
        path = self.metadata_path(rel)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        try:
            meta = LocalMetadata(
                commit=lines[0].strip(), etag=lines[1].strip(), timestamp=float(lines[2])
            )
        except (IndexError, ValueError):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        try:
            mtime = self.file_path(rel).stat().st_mtime
        except OSError:
            return None
        if mtime - 1 > meta.timestamp:
            return None
        return meta

    def write_metadata(self, rel: str, commit: str, etag: str) -> None:
        atomic_write_text(self.metadata_path(rel), f"{commit}\n{etag}\n{time.time()}\n")

    def is_current(self, entry: FileEntry) -> bool:
        """True when ``entry``'s file is already here with matching metadata."""
        meta = self.read_metadata(entry.path)
        return meta is not None and meta.etag == entry.etag

    # -- trees ------------------------------------------------------------------------------
    def read_tree(self, commit: str) -> dict[str, dict[str, Any]] | None:
        return read_tree_file(self.tree_path(commit))

    def write_tree(self, commit: str, entries: list[FileEntry]) -> None:
        write_tree_file(self.tree_path(commit), entries)

    # -- placement --------------------------------------------------------------------------
    def place(self, rel: str, source: Path, *, move: bool) -> Path:
        """Put ``source`` at ``rel`` atomically (moved if ``move``, else copied first)."""
        dest = self.file_path(rel)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.is_dir() and not dest.is_symlink():
                raise LocalFileError(f"Cannot place {dest}: a folder is in the way.")
            if move:
                os.replace(source, dest)
            else:
                tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
                try:
                    shutil.copyfile(source, tmp)
                    os.replace(tmp, dest)
                finally:
                    with contextlib.suppress(OSError):
                        tmp.unlink()
        except OSError as exc:
            raise LocalFileError(f"Cannot place {dest}: {exc.strerror or exc}.") from exc
        return dest
