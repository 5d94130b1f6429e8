"""``cache import``: all or nothing, for bundles nobody vouches for.

1. **Receive**: stream the tar; the manifest (first member) is validated whole before any blob is
   read (:mod:`hubcli.bundle_manifest`); each blob is hashed against its name while it is written
   into a private staging folder inside the cache (``.hubcli-staging/<random>``).
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
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hubcli.bundle_manifest import (
    Manifest,
    RepoPlan,
    RevisionPlan,
    check_files_match_tree,
    parse_manifest,
    tree_etag,
)
from hubcli.cache import RepoCache
from hubcli.cache_links import LinkRoots, blob_dir_problem, check_blob, first_hop
from hubcli.errors import HubError, IntegrityError, LocalFileError, UnsafePathError
from hubcli.hashing import hasher_for, parse_etag
from hubcli.repo import is_commit_sha

MANIFEST = "hubcli-bundle.json"
MAX_MANIFEST = 64 << 20
CHUNK = 1 << 20
STAGING = ".hubcli-staging"
_NO_SYMLINKS = (errno.EPERM, errno.ENOSYS, errno.EOPNOTSUPP)


@dataclass
class ImportResult:
    blobs_added: int = 0
    bytes_added: int = 0
    files: int = 0
    refs: int = 0
    kept: list[str] = field(default_factory=list)


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
            self.root.mkdir(exist_ok=True)
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
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only when no other import is running

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
    hasher = hasher_for(parse_etag(etag, what="blob", error=IntegrityError), size)
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
    if got != size or hasher.hexdigest() != etag:
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
        from hubcli.bundle_manifest import parse_tree

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
        where = f"{repo.ref.repo_type}/{repo.ref.repo_id}"
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
        from filelock import Timeout

        from hubcli.cache_scan import scan_repo

        rc = self.blobs[path]
        try:
            with rc.lock(path.name, timeout=10):
                fresh = scan_repo(rc.path, rc.ref)
                if fresh is None or path.name not in fresh.referenced_etags():
                    os.unlink(path)
        except Timeout:
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
    rc: RepoCache, etag: str, got: Received, placed: dict[str, Path], roots: LinkRoots
) -> str | None:
    """Place one blob under its download lock: ``moved`` from staging, ``linked`` (hardlink or
    copy of the same blob placed in another repo), or None when one appeared meanwhile."""
    target = rc.blob_path(etag)
    with rc.lock(etag, timeout=60):
        if check_blob(target, roots).ok:
            return None
        source = placed.get(etag)
        if source is None:
            os.replace(got.staged[etag], target)
            placed[etag] = target
            return "moved"
        tmp = target.with_name(f".{etag}.{os.urandom(4).hex()}.import")
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return "linked"


def publish(cache_dir: Path, plan: _Plan, got: Received, roots: LinkRoots) -> ImportResult:
    """Blobs, then snapshots, trees and refs; on any failure undo what was placed."""
    journal = _Journal()
    placed: dict[str, Path] = {}
    result = plan.result
    try:
        for rc, etag in plan.blobs:
            journal.mkdirs(rc.blobs_dir, cache_dir)
            how = _publish_blob(rc, etag, got, placed, roots)
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
        from hubcli.cache import ensure_cachedir_tag

        ensure_cachedir_tag(cache_dir)
    return result


def import_into(
    cache_dir: Path, bundle: Path, *, tiers: tuple[str, ...] = ()
) -> tuple[Manifest, ImportResult]:
    """Verify ``bundle`` whole, then publish it into ``cache_dir``: all or nothing."""
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
        return got.manifest, publish(cache_dir, plan, got, roots)
