"""Read-only cache tiers: shared caches consulted before the writable one, never written to.

A tier is an ordinary Hugging Face cache (``HUBCLI_CACHE_TIERS=/shared/hub:/nfs/team/hub`` or
``--cache-tier DIR``). A file a tier holds (and that hashes to its name) is linked from the
writable cache in two hops: the snapshot entry is the usual ``../../blobs/<etag>`` of the writable
repo, and that repo blob is a symlink to the tier's blob by absolute path. ``hf cache rm`` removes
the first hop and the writable repo blob; the tier is untouched, and huggingface_hub reads the
result as any cache.

Nothing here writes to a tier: no lock (the writable cache's lock guards the writable blob), no
access record, no partial. A tier blob is hashed before it is first linked, once per run; a
verified blob is remembered by ``(st_dev, st_ino, st_size, st_mtime_ns)`` in hubcli's state
folder (``tier-verified.json``), so the next run links it without reading it again.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hubcli.cache.layout import BlobFinder, RepoCache, read_tree_file
from hubcli.cache.links import LinkRoots, check_blob
from hubcli.errors import LocalFileError, UnsafePathError
from hubcli.hashing import is_content_id, verify_file
from hubcli.repo import RepoRef, is_commit_sha

MEMO_VERSION = 1
MAX_MEMO = 100_000
MEMO_FILE = "tier-verified.json"

Stamp = tuple[int, int, int, int]


def _stamp(path: str) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class TierMemo:
    """Tier blobs already hashed: ``(dev, ino, size, mtime_ns)`` + etag (thread-safe)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._known: set[str] = self._read()
        self._new: set[str] = set()

    @staticmethod
    def key(st: Stamp, etag: str) -> str:
        return f"{st[0]}:{st[1]}:{st[2]}:{st[3]}:{etag}"

    def _read(self) -> set[str]:
        if self.path is None:
            return set()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        if not isinstance(data, dict) or data.get("version") != MEMO_VERSION:
            return set()
        keys = data.get("verified")
        return {k for k in keys if isinstance(k, str)} if isinstance(keys, list) else set()

    def known(self, st: Stamp, etag: str) -> bool:
        with self._lock:
            return self.key(st, etag) in self._known

    def add(self, st: Stamp, etag: str) -> None:
        k = self.key(st, etag)
        with self._lock:
            if k not in self._known:
                self._known.add(k)
                self._new.add(k)

    def save(self) -> None:
        """Merge what this run verified into the state file (atomically; errors cost a re-hash)."""
        with self._lock:
            if self.path is None or not self._new:
                return
            merged = self._read() | self._new
            self._new.clear()
        keys = sorted(merged)[-MAX_MEMO:]
        tmp = self.path.with_name(f"{self.path.name}.{os.urandom(4).hex()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"version": MEMO_VERSION, "verified": keys}, fh)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


class Tiers:
    """The read-only tiers of one run (thread-safe); a tier that is not a folder is skipped."""

    def __init__(self, tiers: Iterable[str | os.PathLike[str]], *, state_dir: Path | None) -> None:
        roots: list[Path] = []
        for t in tiers:
            real = Path(os.path.realpath(os.fspath(t)))
            if real.is_dir() and real not in roots:
                roots.append(real)
        self.roots = tuple(roots)
        self.memo = TierMemo(Path(state_dir) / MEMO_FILE if state_dir is not None else None)
        self._finders = {root: BlobFinder(root) for root in self.roots}
        self._link_roots = {root: LinkRoots.for_cache(root) for root in self.roots}
        self._lock = threading.Lock()
        self._checked: dict[tuple[str, str, int | None], Path | None] = {}
        self.hashed = 0

    def __bool__(self) -> bool:
        return bool(self.roots)

    def repos(self, ref: RepoRef) -> list[RepoCache]:
        """The repo's folder in each tier (paths only: a RepoCache of a tier is never written)."""
        return [RepoCache(root, ref) for root in self.roots]

    # -- revisions ------------------------------------------------------------------------------
    def resolve(self, ref: RepoRef, revision: str) -> str | None:
        """The commit of ``revision`` in the first tier that has it (a ref, or the commit's
        snapshot or tree)."""
        for rc in self.repos(ref):
            if is_commit_sha(revision):
                if rc.snapshot_dir(revision).is_dir() or rc.tree_path(revision).is_file():
                    return revision
                continue
            commit = rc.read_ref(revision)
            if commit is not None and is_commit_sha(commit):
                return commit
        return None

    def read_tree(self, ref: RepoRef, commit: str) -> dict[str, dict[str, Any]] | None:
        for rc in self.repos(ref):
            tree = read_tree_file(rc.tree_path(commit))
            if tree is not None:
                return tree
        return None

    def snapshot_dir(self, ref: RepoRef, commit: str) -> Path | None:
        for rc in self.repos(ref):
            snap = rc.snapshot_dir(commit)
            if snap.is_dir():
                return snap
        return None

    # -- blobs ----------------------------------------------------------------------------------
    def locate(self, ref: RepoRef, etag: str) -> Path | None:
        """A tier blob named ``etag``, not verified: the repo's own in the first tier that has
        it, else any repo's of a tier (content-addressed: the same bytes)."""
        if not is_content_id(etag):
            return None
        for rc in self.repos(ref):
            with contextlib.suppress(UnsafePathError):
                blob = rc.blob_path(etag)
                if blob.is_file():
                    return blob
        for root in self.roots:
            found = self._finders[root].find(etag)
            if found is not None:
                return found
        return None

    def has(self, ref: RepoRef, etag: str) -> bool:
        return self.locate(ref, etag) is not None

    def verified(self, ref: RepoRef, etag: str, size: int | None) -> Path | None:
        """The tier blob to link for ``etag`` (absolute, under the tier's real path), after
        checking where its links lead (inside the tier) and that its bytes hash to ``etag``
        (once per run, and remembered across runs); None when no tier has a good one."""
        key = (ref.repo_type + "/" + ref.repo_id, etag, size)
        with self._lock:
            if key in self._checked:
                return self._checked[key]
        found = self._verify(ref, etag, size)
        with self._lock:
            self._checked[key] = found
        return found

    def _verify(self, ref: RepoRef, etag: str, size: int | None) -> Path | None:
        blob = self.locate(ref, etag)
        if blob is None:
            return None
        root = self.root_of(blob)
        if root is None:
            return None
        state = check_blob(blob, self._link_roots[root])
        if not state.ok or state.target is None:
            return None
        st = _stamp(state.target)
        if st is None or (size is not None and st[2] != size):
            return None
        if self.memo.known(st, etag):
            return blob
        with self._lock:
            self.hashed += 1
        if not verify_file(state.target, etag, size=size):
            return None
        if _stamp(state.target) == st:
            self.memo.add(st, etag)
        return blob

    def root_of(self, path: str | os.PathLike[str]) -> Path | None:
        p = os.path.normpath(os.fspath(path))
        for root in self.roots:
            if p.startswith(str(root).rstrip(os.sep) + os.sep):
                return root
        return None

    def save(self) -> None:
        self.memo.save()


def link_tier_blob(cache: RepoCache, etag: str, target: Path) -> Path:
    """Make the writable repo blob ``blobs/<etag>`` a symlink to ``target`` (absolute) in one
    rename; the caller holds the blob's lock (in the writable cache)."""
    blob = cache.blob_path(etag)
    tmp = blob.with_name(f".{etag}.{os.urandom(4).hex()}.tier")
    try:
        cache.make_dir(blob.parent)
        os.symlink(os.fspath(target), tmp)
        os.replace(tmp, blob)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise LocalFileError(f"Cannot link {blob} to {target}: {exc.strerror or exc}.") from exc
    return blob


def tiers_for(
    tiers: Sequence[Path], state_dir: Path | None, *, cache_dir: Path | None = None
) -> Tiers | None:
    """A :class:`Tiers` for the configured tiers (the writable ``cache_dir`` itself is never
    one of them), or None when there are none."""
    if not tiers:
        return None
    own = os.path.realpath(cache_dir) if cache_dir is not None else None
    found = Tiers([t for t in tiers if os.path.realpath(t) != own], state_dir=state_dir)
    return found if found else None
