"""``--from-cache DIR``: an existing Hugging Face cache (``models--org--name/{blobs,snapshots,refs,
trees}``, written by huggingface_hub or hubcli) read as a source of commits and blobs, never
written to.

A commit's files are those of ``snapshots/<sha>/`` (symlinks to ``blobs/<sha256|git sha1>``); when
huggingface_hub's tree cache (``trees/<sha>.json``) is there too, it gives the full listing, so a
file of the commit that is absent from a partial snapshot is known to exist but not to be shared.
Blobs are verified the first time they are served (hashed while streaming; the last piece is held
back until the hash matched, a mismatch cuts the connection) and remembered as good or bad.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hubcli.server.ids import (
    SHA1_RE,
    SHA256_RE,
    StorageError,
    git_blob_sha1,
    lfs_pointer,
    validate_path,
    validate_repo_id,
)
from hubcli.server.records import Entry

PIECE = 1 << 20


class CorruptBlob(Exception):
    pass


@dataclass
class SharedCommit:
    sha: str
    tree: dict[str, Entry]  # every file known of the commit
    present: dict[str, Path] = field(default_factory=dict)  # path -> blob file in the share
    complete: bool = False  # the tree listing came from trees/<sha>.json


class CacheShare:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self._verified: dict[tuple[str, int, int], bool] = {}

    def repo_dir(self, repo_type: str, repo_id: str) -> Path | None:
        ns, name = validate_repo_id(repo_id)
        d = self.root / f"{repo_type}s--{ns}--{name}"
        return d if d.is_dir() else None

    def repos(self, repo_type: str) -> list[str]:
        out = []
        with contextlib.suppress(OSError):
            for d in sorted(self.root.glob(f"{repo_type}s--*--*")):
                parts = d.name.split("--")
                if len(parts) == 3 and d.is_dir():
                    out.append(f"{parts[1]}/{parts[2]}")
        return out

    def refs(self, repo_type: str, repo_id: str) -> dict[str, str]:
        """branch/tag name -> commit of the refs files (``refs/pr/N`` included)."""
        d = self.repo_dir(repo_type, repo_id)
        out: dict[str, str] = {}
        if d is None:
            return out
        base = d / "refs"
        for p in base.rglob("*") if base.is_dir() else []:
            if p.is_file():
                with contextlib.suppress(OSError):
                    sha = p.read_text().strip()
                    if SHA1_RE.match(sha):
                        out[p.relative_to(base).as_posix()] = sha
        return out

    def resolve(self, repo_type: str, repo_id: str, rev: str) -> str | None:
        d = self.repo_dir(repo_type, repo_id)
        if d is None:
            return None
        if SHA1_RE.match(rev):
            known = (d / "snapshots" / rev).is_dir() or (d / "trees" / f"{rev}.json").is_file()
            return rev if known else None
        return self.refs(repo_type, repo_id).get(rev)

    def commit(self, repo_type: str, repo_id: str, sha: str) -> SharedCommit | None:
        d = self.repo_dir(repo_type, repo_id)
        if d is None or not SHA1_RE.match(sha):
            return None
        tree: dict[str, Entry] = {}
        complete = False
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            data = json.loads((d / "trees" / f"{sha}.json").read_text("utf-8"))
            for path, info in data["files"].items():
                entry = _tree_entry(path, info)
                if entry is not None:
                    tree[path] = entry
            complete = True
        present: dict[str, Path] = {}
        snap = d / "snapshots" / sha
        if not snap.is_dir() and not complete:
            return None
        blobs = (d / "blobs").resolve()
        for p in snap.rglob("*") if snap.is_dir() else []:
            if p.is_dir():
                continue
            rel = p.relative_to(snap).as_posix()
            try:
                validate_path(rel)
                target = p.resolve(strict=True)
            except (StorageError, OSError):
                continue
            if target.parent != blobs:  # only blobs of this repo; never follow a link elsewhere
                continue
            entry = tree.get(rel) or _blob_entry(target)
            if entry is None or (entry.sha256 or entry.oid) != target.name:
                continue
            tree[rel] = entry
            present[rel] = target
        return SharedCommit(sha, tree, present, complete)

    # ------------------------------------------------------------------ serving
    def state(self, blob: Path) -> bool | None:
        """True verified good, False known bad, None not verified yet."""
        st = blob.stat()
        with self._lock:
            return self._verified.get((str(blob), st.st_size, st.st_mtime_ns))

    def _remember(self, blob: Path, good: bool) -> None:
        with contextlib.suppress(OSError):
            st = blob.stat()
            with self._lock:
                self._verified[(str(blob), st.st_size, st.st_mtime_ns)] = good

    def verify(self, blob: Path, entry: Entry) -> bool:
        """Hash the whole blob now (for ranges of an unverified blob)."""
        h = _hasher(entry)
        with open(blob, "rb") as fh:
            while data := fh.read(PIECE):
                h.update(data)
        good = h.hexdigest() == (entry.sha256 or entry.oid)
        self._remember(blob, good)
        return good

    def stream(self, blob: Path, entry: Entry) -> Iterator[bytes]:
        """The blob's bytes, hashed as they go; the last piece only once the hash matched,
        ``CorruptBlob`` (the connection is cut) otherwise."""
        h = _hasher(entry)
        held: bytes | None = None
        total = 0
        with open(blob, "rb") as fh:
            while data := fh.read(PIECE):
                h.update(data)
                total += len(data)
                if held is not None:
                    yield held
                held = data
        good = total == entry.size and h.hexdigest() == (entry.sha256 or entry.oid)
        self._remember(blob, good)
        if not good:
            raise CorruptBlob(str(blob))
        if held is not None:
            yield held


def _hasher(entry: Entry) -> hashlib._Hash:
    if entry.sha256:
        return hashlib.sha256()
    return hashlib.sha1(b"blob %d\0" % entry.size)


def _tree_entry(path: str, info: dict[str, object]) -> Entry | None:
    try:
        validate_path(path)
    except StorageError:
        return None
    size, blob_id, lfs = info.get("size"), info.get("blob_id"), info.get("lfs_sha256")
    if type(size) is not int or size < 0 or not isinstance(blob_id, str):
        return None
    if not SHA1_RE.match(blob_id):
        return None
    if lfs is None:
        return Entry(size, blob_id)
    if not isinstance(lfs, str) or not SHA256_RE.match(lfs):
        return None
    return Entry(size, blob_id, lfs)


def _blob_entry(blob: Path) -> Entry | None:
    """What a blob's name says: a sha256 (LFS) or a git blob sha1 (regular file)."""
    try:
        size = os.stat(blob).st_size
    except OSError:
        return None
    if SHA256_RE.match(blob.name):
        return Entry(size, git_blob_sha1(lfs_pointer(blob.name, size)), blob.name)
    if SHA1_RE.match(blob.name):
        return Entry(size, blob.name)
    return None
