"""The Hugging Face cache layout: repo folders, blobs, snapshots, refs, .no_exist, trees, locks.

This module knows where things live and how to place them atomically; it does no network I/O.
Layout (huggingface_hub 2.x): ``<cache>/models--org--name/{blobs,snapshots,refs,.no_exist,trees}``,
locks in ``<cache>/.locks/<repo folder>/<etag>.lock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.cache.locks import FlockLock
from hubcli.errors import LocalFileError, UnsafePathError
from hubcli.hashing import is_content_id
from hubcli.repo import RepoRef, normalize_repo_type, repo_folder_name, validate_repo_path

if TYPE_CHECKING:
    from hubcli.models import FileEntry

CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n"
)
TREE_FORMAT_VERSION = 1
REPO_PREFIXES = ("models", "datasets", "spaces", "kernels")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a unique temp file and rename (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LocalFileError(f"Cannot write {path}: {exc.strerror or exc}.") from exc


def checked_commit(commit: str) -> str:
    """``commit`` if it is a 40-hex commit id (the only thing that names a snapshot or tree)."""
    from hubcli.repo import is_commit_sha

    if not is_commit_sha(commit):
        raise UnsafePathError(f"Refusing {str(commit)[:80]!r} as a commit id: not 40 hex digits.")
    return commit


def safe_join(root: Path, rel: str) -> Path:
    """Join a repo-relative path under ``root``, refusing anything that could escape it."""
    # validate_repo_path refuses '..', '.', empty segments, absolute/drive forms, NUL and '\\',
    # so every segment is a plain name and the result cannot leave ``root``.
    validate_repo_path(rel)
    return root.joinpath(*rel.split("/"))


class RepoCache:
    """One repo's folder inside a cache."""

    def __init__(self, cache_dir: Path, ref: RepoRef) -> None:
        self.cache_dir = Path(cache_dir)
        self.ref = ref
        self.folder = repo_folder_name(ref.repo_id, ref.repo_type)
        self.path = self.cache_dir / self.folder
        self._made: set[Path] = set()

    # -- paths ------------------------------------------------------------------------------
    @property
    def blobs_dir(self) -> Path:
        return self.path / "blobs"

    def blob_path(self, etag: str) -> Path:
        """``blobs/<etag>``; only a sha256 or git blob sha1 (lowercase hex) names a blob."""
        if not is_content_id(etag):
            raise UnsafePathError(
                f"Refusing {str(etag)[:80]!r} as a blob name: not a content hash."
            )
        return self.blobs_dir / etag

    def snapshot_dir(self, commit: str) -> Path:
        return self.path / "snapshots" / checked_commit(commit)

    def snapshot_file(self, commit: str, rel: str) -> Path:
        return safe_join(self.snapshot_dir(commit), rel)

    def ref_path(self, revision: str) -> Path:
        return safe_join(self.path / "refs", revision)

    def no_exist_path(self, commit: str, rel: str) -> Path:
        return safe_join(self.path / ".no_exist" / checked_commit(commit), rel)

    def tree_path(self, commit: str) -> Path:
        return self.path / "trees" / f"{checked_commit(commit)}.json"

    def lock_path(self, etag: str) -> Path:
        return self.cache_dir / ".locks" / self.folder / f"{etag}.lock"

    def lock(self, etag: str, timeout: float = -1) -> FlockLock:
        """The same lock file huggingface_hub takes for this blob (``flock``, see
        :mod:`hubcli.cache.locks`); a busy lock past ``timeout`` raises TimeoutError."""
        path = self.lock_path(etag)
        self.make_dir(path.parent)
        return FlockLock(path, timeout=timeout)

    def make_dir(self, path: Path) -> None:
        """``mkdir -p path``, once per RepoCache object (a download of many files asks again and
        again for the same few folders)."""
        if path in self._made:
            return
        path.mkdir(parents=True, exist_ok=True)
        self._made.add(path)

    # -- refs -------------------------------------------------------------------------------
    def read_ref(self, revision: str) -> str | None:
        """The commit a ref points at, exactly as stored (huggingface_hub does not strip)."""
        try:
            text = self.ref_path(revision).read_text(encoding="utf-8")
        except (OSError, UnsafePathError):
            return None
        return text.strip() or None

    def write_ref(self, revision: str, commit: str) -> None:
        """Write ``refs/<revision>`` = the 40-hex commit, no newline, only if it changed."""
        path = self.ref_path(revision)
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == commit:
                return
        atomic_write_text(path, commit)

    def resolve_offline(self, revision: str) -> str | None:
        """A commit for ``revision`` from the cache alone (a sha, or refs/<revision>)."""
        from hubcli.repo import is_commit_sha

        if is_commit_sha(revision):
            return revision
        return self.read_ref(revision)

    # -- trees ------------------------------------------------------------------------------
    def read_tree(self, commit: str) -> dict[str, dict[str, Any]] | None:
        return read_tree_file(self.tree_path(commit))

    def write_tree(self, commit: str, entries: list[FileEntry]) -> None:
        write_tree_file(self.tree_path(commit), entries)

    # -- placement --------------------------------------------------------------------------
    def ensure_dirs(self) -> None:
        try:
            self.blobs_dir.mkdir(parents=True, exist_ok=True)
            (self.path / "snapshots").mkdir(parents=True, exist_ok=True)
            (self.path / "refs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalFileError(f"Cannot create {self.path}: {exc.strerror or exc}.") from exc
        ensure_cachedir_tag(self.cache_dir)

    def link_snapshot(self, commit: str, rel: str, etag: str, *, use_symlinks: bool = True) -> Path:
        """Point ``snapshots/<commit>/<rel>`` at ``blobs/<etag>`` (relative symlink or copy)."""
        dest = self.snapshot_file(commit, rel)
        blob = self.blob_path(etag)
        try:
            self.make_dir(dest.parent)
        except OSError as exc:
            raise LocalFileError(f"Cannot create {dest.parent}: {exc.strerror or exc}.") from exc
        if use_symlinks:
            # A new entry is one atomic symlink(2); only a replacement needs a temp name and a
            # rename (on ext4 each is a journalled directory change: ~1/4 of a small file's cost).
            try:
                os.symlink(os.path.relpath(blob, dest.parent), dest)
                return dest
            except FileExistsError:
                pass
            except OSError:
                pass  # no symlinks here (EPERM...): the path below copies instead
        tmp = dest.with_name(f".{dest.name}.{os.urandom(4).hex()}.tmp")
        try:
            if use_symlinks:
                os.symlink(os.path.relpath(blob, dest.parent), tmp)
            else:
                shutil.copyfile(blob, tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if use_symlinks and exc.errno in (1, 38, 95):  # EPERM / ENOSYS / EOPNOTSUPP
                return self.link_snapshot(commit, rel, etag, use_symlinks=False)
            raise LocalFileError(f"Cannot place {dest}: {exc.strerror or exc}.") from exc
        return dest

    def mark_missing(self, commit: str, rel: str) -> None:
        path = self.no_exist_path(commit, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def snapshot_has(self, commit: str, rel: str) -> bool:
        try:
            return self.snapshot_file(commit, rel).is_file()
        except UnsafePathError:
            return False


def read_tree_file(path: Path) -> dict[str, dict[str, Any]] | None:
    """Read a ``trees/<commit>.json`` (huggingface_hub's tree cache); None if absent or unknown."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format_version") != TREE_FORMAT_VERSION:
        return None
    files = data.get("files")
    return files if isinstance(files, dict) else None


def write_tree_file(path: Path, entries: list[FileEntry]) -> None:
    """Write a tree cache in huggingface_hub's format: indent 1, files sorted, atomically."""
    files = {e.path: e.to_tree_cache() for e in sorted(entries, key=lambda e: e.path)}
    doc = {"format_version": TREE_FORMAT_VERSION, "files": files}
    atomic_write_text(path, json.dumps(doc, indent=1))


def ensure_cachedir_tag(directory: Path) -> None:
    tag = directory / "CACHEDIR.TAG"
    if not tag.exists():
        with contextlib.suppress(LocalFileError):
            atomic_write_text(tag, CACHEDIR_TAG)


def iter_repo_folders(cache_dir: Path) -> Iterator[tuple[Path, RepoRef]]:
    """Yield ``(folder, RepoRef)`` for every valid repo folder directly under ``cache_dir``."""
    try:
        entries = list(os.scandir(cache_dir))
    except OSError:
        return
    for entry in entries:
        ref = parse_repo_folder(entry.name)
        if ref is not None and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path), ref


def parse_repo_folder(name: str) -> RepoRef | None:
    """``models--org--name`` -> RepoRef; None for anything that is not a repo folder."""
    prefix, sep, rest = name.partition("--")
    if not sep or prefix not in REPO_PREFIXES or not rest:
        return None
    repo_type = prefix[:-1]
    if repo_type == "kernel":
        return None
    return RepoRef(repo_id=rest.replace("--", "/"), repo_type=normalize_repo_type(repo_type))


def find_blob(cache_dir: Path, etag: str, *, exclude: Path | None = None) -> Path | None:
    """Find a complete blob named ``etag`` in any repo of the cache (for cross-repo dedup)."""
    for folder, _ref in iter_repo_folders(cache_dir):
        if exclude is not None and folder == exclude:
            continue
        candidate = folder / "blobs" / etag
        if candidate.is_file():
            return candidate
    return None


class BlobFinder:
    """:func:`find_blob` for one run of many files (thread-safe).

    The first few look-ups probe every repo folder (cheap for one file in a big cache); after
    that the blob names of every other repo are read once, one ``scandir`` per repo, and each
    look-up is a dict hit, instead of a ``stat`` per repo per file. A blob that appears during
    the run after the index was read is simply not reused (the file is fetched instead).
    """

    PROBES = 8

    def __init__(self, cache_dir: Path, *, exclude: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self.exclude = exclude
        self._lock = threading.Lock()
        self._probes = 0
        self._index: dict[str, Path] | None = None

    def find(self, etag: str) -> Path | None:
        with self._lock:
            if self._index is None and self._probes < self.PROBES:
                self._probes += 1
                index = None
            else:
                index = self._index if self._index is not None else self._build()
        if index is None:
            return find_blob(self.cache_dir, etag, exclude=self.exclude)
        path = index.get(etag)
        return path if path is not None and path.is_file() else None

    def add(self, etag: str, path: Path) -> None:
        """A blob placed during the run (so a later repo of the same run can reuse it)."""
        with self._lock:
            if self._index is not None:
                self._index.setdefault(etag, path)

    def _build(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for folder, _ref in iter_repo_folders(self.cache_dir):
            if self.exclude is not None and folder == self.exclude:
                continue
            blobs = folder / "blobs"
            try:
                entries = list(os.scandir(blobs))
            except OSError:
                continue
            for entry in entries:
                if is_content_id(entry.name) and entry.name not in index:
                    index[entry.name] = blobs / entry.name
        self._index = index
        return index


def links_to(dest: Path, blob: Path) -> bool:
    """True when the snapshot entry ``dest`` already points at ``blob`` (its relative link), or is
    a full copy of the right size (caches made without symlinks)."""
    try:
        if os.path.islink(dest):
            return os.readlink(dest) == os.path.relpath(blob, dest.parent) and blob.is_file()
        return dest.is_file() and dest.stat().st_size == blob.stat().st_size
    except OSError:
        return False
