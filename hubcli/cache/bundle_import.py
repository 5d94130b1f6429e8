"""``cache import``: all or nothing, for bundles nobody vouches for.

1. **Receive** (:mod:`hubcli.cache.bundle_receive`): stream the tar; the manifest (first member) is
   validated whole before any blob is read; each blob is hashed against its name while it is
   written into a private staging folder inside the cache (``.locks/.hubcli-staging/<random>``).
2. **Plan**: compare with what the cache holds. An existing good entry is never replaced: the same
   blob, link, tree or ref is kept; a bundle that contradicts it (another blob for a path of the
   same commit, another tree, a file where the cache has a folder) is refused; a differing ref is
   kept and reported. Broken entries (dangling links, links out of the cache) are replaced.
   Snapshots, trees and refs are built in the staging folder.
3. **Publish**: blobs (content-addressed, invisible until linked), then snapshots (a new commit's
   folder in one rename), trees, refs last. A failure undoes what this import published; a crash
   leaves only complete entries visible, and the next import sweeps the staging folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat as stat_mod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.cache.bundle_manifest import (
    Manifest,
    RepoPlan,
    RevisionPlan,
    check_files_match_tree,
    tree_etag,
)
from hubcli.cache.bundle_receive import MANIFEST, STAGING, Received, Staging, receive
from hubcli.cache.layout import RepoCache
from hubcli.cache.links import LinkRoots, blob_dir_problem, check_blob, first_hop
from hubcli.errors import HubError, IntegrityError, LocalFileError
from hubcli.fsinfo import unique_partials
from hubcli.repo import is_commit_sha
from hubcli.transfer.placement import BlobSlot, link_or_copy

__all__ = ["MANIFEST", "STAGING", "ImportResult", "import_into", "publish", "receive"]
_NO_SYMLINKS = (errno.EPERM, errno.ENOSYS, errno.EOPNOTSUPP)


@dataclass
class ImportResult:
    blobs_added: int = 0
    bytes_added: int = 0
    files: int = 0
    refs: int = 0
    kept: list[str] = field(default_factory=list)


# -- plan -------------------------------------------------------------------------------------
@dataclass
class _Entry:
    staged: Path
    final: Path
    replace: bool  # the existing entry is broken: replace it


@dataclass
class _Plan:
    blobs: list[tuple[RepoCache, str]] = field(default_factory=list)
    new_snapshots: list[tuple[Path, Path]] = field(default_factory=list)  # staged dir, final
    entries: list[_Entry] = field(default_factory=list)  # into existing snapshots
    trees: list[_Entry] = field(default_factory=list)
    refs: list[_Entry] = field(default_factory=list)
    result: ImportResult = field(default_factory=ImportResult)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFileError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def _conflict(message: str) -> IntegrityError:
    return IntegrityError(
        f"Refusing bundle: {message}",
        hint="Nothing was imported. Run `hubcli cache verify` to check the cached copy.",
    )


def _check_folder(path: Path) -> None:
    st = _lstat(path)
    if st is not None and not stat_mod.S_ISDIR(st.st_mode):
        raise _conflict(f"{path} in the cache is not a folder.")


class _Planner:
    def __init__(self, cache_dir: Path, got: Received, stage: Path, roots: LinkRoots) -> None:
        self.cache_dir = cache_dir
        self.got = got
        self.stage = stage
        self.roots = roots
        self.plan = _Plan()
        self.copies = False  # the filesystem refuses symlinks: snapshots hold copies
        self.linked: set[str] = set()

    def run(self) -> _Plan:
        for repo in self.got.manifest.repos:
            self._repo(repo)
        return self.plan

    def _repo(self, repo: RepoPlan) -> None:
        rc = RepoCache(self.cache_dir, repo.ref)
        for folder in (rc.path, rc.blobs_dir, rc.path / "snapshots", rc.path / "refs"):
            _check_folder(folder)
        _check_folder(rc.path / "trees")
        unsafe = blob_dir_problem(rc.blobs_dir, rc.path)
        if unsafe is not None:
            raise _conflict(f"{rc.blobs_dir}: {unsafe}.")
        self.linked = set()  # blobs this repo's snapshot links will point at
        for rev in repo.revisions.values():
            existing = self._existing_tree(rc, rev)
            self._snapshot(rc, rev)
            self._tree(rc, rev, existing)
            self.plan.result.files += len(rev.files)
        for etag in sorted(self.linked):  # (plain copies, in a cache without symlinks, need none)
            if not check_blob(rc.blob_path(etag), self.roots).ok:
                if etag not in self.got.staged:
                    raise _vanished(etag, rc)
                self.plan.blobs.append((rc, etag))
        for name, commit in sorted(repo.refs.items()):
            self._ref(rc, repo, name, commit)

    # snapshots
    def _snapshot(self, rc: RepoCache, rev: RevisionPlan) -> None:
        final = rc.snapshot_dir(rev.commit)
        st = _lstat(final)
        staged_dir = self.stage / "snap" / rc.folder / rev.commit
        if st is None:
            staged_dir.mkdir(parents=True)
            for path, etag in sorted(rev.files.items()):
                self._stage_link(rc, staged_dir / path, path, etag)
            self.plan.new_snapshots.append((staged_dir, final))
            return
        if not stat_mod.S_ISDIR(st.st_mode):
            raise _conflict(f"{final} in the cache is not a folder.")
        for path, etag in sorted(rev.files.items()):
            state = self._existing_entry(rc, final, path, etag)
            if state == "same":
                continue
            staged = staged_dir / path
            self._stage_link(rc, staged, path, etag)
            self.plan.entries.append(_Entry(staged, final / path, replace=state == "broken"))

    def _existing_entry(self, rc: RepoCache, snap: Path, path: str, etag: str) -> str:
        """``absent``, ``same`` (kept) or ``broken`` (replaced); a contradiction raises."""
        parts = path.split("/")
        cur = snap
        for i, part in enumerate(parts[:-1]):
            cur = cur / part
            st = _lstat(cur)
            if st is None:
                return "absent"
            if not stat_mod.S_ISDIR(st.st_mode):
                prefix = "/".join(parts[: i + 1])
                raise _conflict(f"the cache has {prefix!r} of {snap.name[:12]} as a file.")
        entry = cur / parts[-1]
        st = _lstat(entry)
        if st is None:
            return "absent"
        if stat_mod.S_ISDIR(st.st_mode):
            raise _conflict(f"the cache has {path!r} of {snap.name[:12]} as a folder.")
        if stat_mod.S_ISREG(st.st_mode):
            return "same"  # a copy, in a cache written without symlinks
        if not stat_mod.S_ISLNK(st.st_mode):
            return "broken"
        name = first_hop(str(entry), str(rc.blobs_dir))
        if name == etag:
            self.linked.add(etag)  # kept; its blob is placed if it is missing
            return "same"
        if name is not None and check_blob(rc.blobs_dir / name, self.roots).ok:
            raise _conflict(
                f"the cache links {path!r} of {snap.name[:12]} to blob {name[:12]}…, "
                f"the bundle to {etag[:12]}…."
            )
        return "broken"

    def _stage_link(self, rc: RepoCache, staged: Path, path: str, etag: str) -> None:
        staged.parent.mkdir(parents=True, exist_ok=True)
        target = "../" * (2 + path.count("/")) + "blobs/" + etag
        if not self.copies:
            try:
                os.symlink(target, staged)
                self.linked.add(etag)
                return
            except OSError as exc:
                if exc.errno not in _NO_SYMLINKS:
                    raise
                self.copies = True
        source = self.got.staged.get(etag) or check_blob(rc.blob_path(etag), self.roots).target
        if source is None:
            raise _vanished(etag, rc)
        shutil.copyfile(source, staged)

    # trees
    def _existing_tree(self, rc: RepoCache, rev: RevisionPlan) -> dict[str, Any] | None:
        """The cached tree of ``rev.commit`` when it is a good one (it is then kept)."""
        from hubcli.cache.bundle_manifest import parse_tree

        path = rc.tree_path(rev.commit)
        st = _lstat(path)
        if st is None or not stat_mod.S_ISREG(st.st_mode):
            if st is not None and stat_mod.S_ISDIR(st.st_mode):
                raise _conflict(f"{path} in the cache is a folder.")
            return None
        try:
            tree = parse_tree(json.loads(path.read_bytes()), str(path))
        except (OSError, ValueError, RecursionError, HubError):
            return None  # unreadable or corrupt: the bundle's replaces it
        try:
            check_files_match_tree(rev.files, tree, self.got.manifest.blobs, "the cache's tree")
        except IntegrityError as exc:
            raise _conflict(f"{rc.ref.repo_id}@{rev.commit[:12]}: {exc}") from None
        if rev.tree is not None and _hashes(rev.tree) != _hashes(tree):
            raise _conflict(
                f"{rc.ref.repo_id}@{rev.commit[:12]}: the cache's tree lists other files."
            )
        return tree

    def _tree(self, rc: RepoCache, rev: RevisionPlan, existing: dict[str, Any] | None) -> None:
        if rev.tree is None or existing is not None:
            return
        final = rc.tree_path(rev.commit)
        staged = self.stage / "trees" / rc.folder / f"{rev.commit}.json"
        staged.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format_version": 1, "files": dict(sorted(rev.tree.items()))}
        staged.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        self.plan.trees.append(_Entry(staged, final, replace=_lstat(final) is not None))

    # refs
    def _ref(self, rc: RepoCache, repo: RepoPlan, name: str, commit: str) -> None:
        final = rc.ref_path(name)
        where = str(repo.ref)
        blocked = self._ref_blocked(rc.path / "refs", name)
        st = _lstat(final) if blocked is None else None
        if blocked is None and st is not None:
            if stat_mod.S_ISDIR(st.st_mode):
                blocked = f"{name} is a folder in the cache"
            elif stat_mod.S_ISREG(st.st_mode):
                current = _read_small(final)
                if current == commit:
                    self.plan.result.refs += 1
                    return
                if current is not None and is_commit_sha(current):
                    self.plan.result.kept.append(
                        f"{where}: kept ref {name!r} at {current[:12]} (the bundle has "
                        f"{commit[:12]})"
                    )
                    return
        if blocked is not None:
            self.plan.result.kept.append(f"{where}: ref {name!r} not written ({blocked})")
            return
        staged = self.stage / "refs" / rc.folder / f"{len(self.plan.refs)}"
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(commit, encoding="utf-8")
        self.plan.refs.append(_Entry(staged, final, replace=st is not None))
        self.plan.result.refs += 1

    @staticmethod
    def _ref_blocked(refs_dir: Path, name: str) -> str | None:
        parts = name.split("/")
        cur = refs_dir
        for i, part in enumerate(parts[:-1]):
            cur = cur / part
            st = _lstat(cur)
            if st is None:
                return None
            if not stat_mod.S_ISDIR(st.st_mode):
                return f"{'/'.join(parts[: i + 1])} is a file in the cache"
        return None


def _vanished(etag: str, rc: RepoCache) -> LocalFileError:
    return LocalFileError(f"Blob {etag} vanished from {rc.path} meanwhile; import again.")


def _hashes(tree: dict[str, Any]) -> dict[str, str]:
    return {path: tree_etag(entry) for path, entry in tree.items()}


def _read_small(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(200).decode("utf-8", "replace").strip()
    except OSError:
        return None


# -- publish ----------------------------------------------------------------------------------
class _Journal:
    """What this import made visible, to undo it if a later step fails."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Path]] = []
        self.blobs: dict[Path, RepoCache] = {}

    def blob(self, rc: RepoCache, etag: str) -> None:
        path = rc.blob_path(etag)
        self.blobs[path] = rc
        self.items.append(("blob", path))

    def mkdirs(self, path: Path, stop: Path) -> None:
        missing: list[Path] = []
        cur = path
        while cur != stop and _lstat(cur) is None:
            missing.append(cur)
            cur = cur.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            self.items.append(("dir", folder))

    def undo(self) -> None:
        for kind, path in reversed(self.items):
            with contextlib.suppress(OSError):
                if kind == "file":
                    os.unlink(path)
                elif kind == "blob":
                    self._undo_blob(path)
                elif kind == "tree":
                    shutil.rmtree(path)
                else:
                    path.rmdir()

    def _undo_blob(self, path: Path) -> None:
        """Remove a blob this import placed, unless a snapshot links to it by now (a concurrent
        download or import may have found it and linked it meanwhile)."""
        from hubcli.cache.scan import scan_repo

        rc = self.blobs[path]
        try:
            with rc.lock(path.name, timeout=10):
                fresh = scan_repo(rc.path, rc.ref)
                if fresh is None or path.name not in fresh.referenced_etags():
                    os.unlink(path)
        except TimeoutError:
            return


def _place(entry: _Entry) -> None:
    """Make ``entry.staged`` visible at ``entry.final``; never over a good existing entry."""
    if entry.replace:
        os.replace(entry.staged, entry.final)
    elif os.path.islink(entry.staged):
        os.symlink(os.readlink(entry.staged), entry.final)  # FileExistsError if raced
    else:
        os.link(entry.staged, entry.final)  # FileExistsError if raced


def _publish_blob(
    rc: RepoCache,
    etag: str,
    got: Received,
    placed: dict[str, Path],
    roots: LinkRoots,
    unique: bool,
) -> str | None:
    """Place one blob as downloads do (:class:`~hubcli.transfer.BlobSlot`: its lock, its
    partial, one atomic replace): ``moved`` from staging, ``linked`` (hardlink or copy of the same
    blob placed in another repo), or None when a good one appeared meanwhile."""
    target = rc.blob_path(etag)
    with BlobSlot(target, lock=rc.lock(etag, timeout=60), unique=unique) as slot:
        if check_blob(target, roots).ok:
            return None
        source = placed.get(etag)
        if source is None:
            slot.fill(lambda tmp: os.replace(got.staged[etag], tmp))
            placed[etag] = target
            return "moved"
        slot.fill(lambda tmp: link_or_copy(source, tmp))
        return "linked"


def publish(
    cache_dir: Path, plan: _Plan, got: Received, roots: LinkRoots, *, unique: bool = False
) -> ImportResult:
    """Blobs, then snapshots, trees and refs; on any failure undo what was placed. ``unique``:
    process-unique partial names (see :func:`hubcli.fsinfo.unique_partials`)."""
    journal = _Journal()
    placed: dict[str, Path] = {}
    result = plan.result
    try:
        for rc, etag in plan.blobs:
            journal.mkdirs(rc.blobs_dir, cache_dir)
            how = _publish_blob(rc, etag, got, placed, roots, unique)
            if how is not None:
                journal.blob(rc, etag)
            if how == "moved":
                result.blobs_added += 1
                result.bytes_added += got.manifest.blobs[etag]
        for staged_dir, final in plan.new_snapshots:
            journal.mkdirs(final.parent, cache_dir)
            os.rename(staged_dir, final)
            journal.items.append(("tree", final))
        for group in (plan.entries, plan.trees, plan.refs):
            for entry in group:
                journal.mkdirs(entry.final.parent, cache_dir)
                _place(entry)
                journal.items.append(("file", entry.final))
    except BaseException as exc:
        journal.undo()
        if isinstance(exc, OSError):
            raise LocalFileError(f"Cannot place imported files: {exc.strerror or exc}.") from exc
        raise
    if plan.blobs or plan.new_snapshots or plan.entries:
        from hubcli.cache.layout import ensure_cachedir_tag

        ensure_cachedir_tag(cache_dir)
    return result


def import_into(
    cache_dir: Path, bundle: Path, *, tiers: tuple[str, ...] = (), partials: str = "auto"
) -> tuple[Manifest, ImportResult]:
    """Verify ``bundle`` whole, then publish it into ``cache_dir``: all or nothing.

    ``partials`` is the ``HUBCLI_PARTIALS`` setting (``auto``: process-unique partial names on a
    network filesystem)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalFileError(f"Cannot create {cache_dir}: {exc.strerror or exc}.") from exc
    roots = LinkRoots.for_cache(cache_dir, tiers)
    with Staging(cache_dir) as stage:
        got = receive(cache_dir, bundle, stage.path, roots)
        try:
            plan = _Planner(cache_dir, got, stage.path, roots).run()
        except OSError as exc:
            raise LocalFileError(f"Cannot stage {bundle}: {exc.strerror or exc}.") from exc
        unique = unique_partials(partials, cache_dir)
        return got.manifest, publish(cache_dir, plan, got, roots, unique=unique)
