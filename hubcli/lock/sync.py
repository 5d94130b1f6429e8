"""``hubcli sync``: make the cache (and any ``local-dir`` targets) match a lock file.

Every locked file is named in the cache by its etag (the sha256 for LFS files, the git blob sha1
otherwise, as huggingface_hub names them); a blob already there is checked against the lock's
**sha256** (a :mod:`verification stamp <hubcli.lock.stamps>` answers for a file unchanged since
it was hashed), a missing one is fetched through the commit-pinned resolve URL (never a branch)
into its partial, verified against the etag *and* the lock's sha256, and only then renamed into
``blobs/`` (a blob already in another repo of the cache is linked instead, verified the same
way). Then ``snapshots/<commit>/`` links, ``trees/<commit>.json`` and, where safe, the ref the
lock entry asked for. A fully cached and stamped lock costs no request: the HTTP session is
only built when a byte has to be fetched.

Local-dir targets get real files (copied from the verified blobs) plus huggingface_hub's
download metadata; a small manifest (``.cache/huggingface/hubcli-sync.json``) remembers what
sync placed there, so a file dropped from the lock is removed while files sync never placed are
never touched (nor a placed file the user changed since: it is kept and reported).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hubcli.cache.layout import BlobFinder, RepoCache, links_to
from hubcli.cache.links import LinkRoots, check_blob, is_inside
from hubcli.cache.tiers import link_tier_blob, tiers_for
from hubcli.download.run import copy_file
from hubcli.errors import IntegrityError, LocalFileError, OfflineError
from hubcli.fsinfo import unique_partials
from hubcli.hashing import ContentId, sha256_file
from hubcli.lock.lockfile import LockedFile, LockedRepo, LockFile
from hubcli.lock.stamps import StampStore
from hubcli.lock.sync_local import sync_local_dir
from hubcli.models import FileEntry
from hubcli.progress import NullProgress, Progress
from hubcli.repo import is_commit_sha, resolve_path
from hubcli.transfer.lazy import LazyTransfer
from hubcli.transfer.placement import BlobSlot, link_or_copy

if TYPE_CHECKING:
    from hubcli.config import Settings
    from hubcli.http import HubSession

FileStatus = Literal["cached", "verified", "downloaded", "deduplicated", "tier", "missing"]
RefStatus = Literal["written", "unchanged", "kept", "none"]


def file_entry(f: LockedFile) -> FileEntry:
    """The lock's file as a listing entry (what ``trees/<commit>.json`` stores)."""
    if f.lfs:
        return FileEntry(f.path, f.size, f.blob_id, lfs_sha256=f.sha256, lfs_size=f.size)
    return FileEntry(f.path, f.size, f.blob_id)


@dataclass
class RepoSync:
    """What sync did for one locked repo."""

    repo: LockedRepo
    path: Path
    local_dir: Path | None = None
    statuses: dict[str, FileStatus] = field(default_factory=dict)
    fetched_bytes: int = 0
    ref_status: RefStatus = "none"
    ref_commit: str | None = None  # what the ref points at when it was kept
    tree_written: bool = False
    removed: list[str] = field(default_factory=list)
    kept_modified: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)

    def to_json(self) -> dict[str, Any]:
        r = self.repo
        return {
            "repo_id": r.id,
            "repo_type": r.type,
            "requested": r.requested,
            "commit": r.commit,
            "path": str(self.path),
            "local_dir": str(self.local_dir) if self.local_dir else None,
            "files": len(r.files),
            "total_size": sum(f.size for f in r.files),
            "cached": self.count("cached"),
            "verified": self.count("verified"),
            "downloaded": self.count("downloaded"),
            "deduplicated": self.count("deduplicated"),
            "tier": self.count("tier"),
            "fetched_bytes": self.fetched_bytes,
            "ref": None if is_commit_sha(r.requested) else r.requested,
            "ref_status": self.ref_status,
            "ref_commit": self.ref_commit,
            "removed": sorted(self.removed),
            "kept_modified": sorted(self.kept_modified),
        }


@dataclass
class SyncResult:
    """The outcome of :func:`sync_lock` (``relocked`` and ``lock_path`` are filled by callers)."""

    repos: list[RepoSync]
    offline: bool = False
    frozen: bool = False
    relocked: bool = False
    lock_path: Path | None = None
    hashed: int = 0
    elapsed: float = 0.0

    @property
    def fetched_bytes(self) -> int:
        return sum(r.fetched_bytes for r in self.repos)

    def count(self, status: str) -> int:
        return sum(r.count(status) for r in self.repos)

    def to_json(self) -> dict[str, Any]:
        return {
            "lock": str(self.lock_path) if self.lock_path else None,
            "relocked": self.relocked,
            "frozen": self.frozen,
            "offline": self.offline,
            "files": sum(len(r.repo.files) for r in self.repos),
            "cached": self.count("cached"),
            "verified": self.count("verified"),
            "downloaded": self.count("downloaded"),
            "deduplicated": self.count("deduplicated"),
            "tier": self.count("tier"),
            "hashed": self.hashed,
            "fetched_bytes": self.fetched_bytes,
            "elapsed": round(self.elapsed, 3),
            "repos": [r.to_json() for r in self.repos],
        }


@dataclass(frozen=True)
class _Group:
    """The files of one repo sharing one blob."""

    sync: RepoSync
    cache: RepoCache
    files: tuple[LockedFile, ...]

    @property
    def first(self) -> LockedFile:
        return self.files[0]

    @property
    def etag(self) -> ContentId:
        return self.files[0].etag

    def label(self, f: LockedFile | None = None) -> str:
        return f"{self.cache.ref}@{self.sync.repo.commit[:12]}/{(f or self.first).path}"


class _Syncer:
    def __init__(
        self,
        settings: Settings,
        session: Callable[[], HubSession] | None,
        *,
        root: Path,
        offline: bool,
        verify: bool,
        write_refs: bool,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.root = root
        self.offline = offline
        self.force_hash = verify
        self.write_refs = write_refs
        self.progress = progress
        self.stamps = StampStore.for_cache(settings.state_dir, settings.cache_dir)
        self.cancel = threading.Event()
        self.blobs = BlobFinder(settings.cache_dir)  # cross-repo dedup, read once per run
        # read-only tiers, consulted before the writable cache (never written to)
        self.tiers = tiers_for(settings.cache_tiers, None, cache_dir=settings.cache_dir)
        self.net = LazyTransfer(session, what="sync", progress=progress, cancel=self.cancel)
        self._unique: bool | None = None
        self.missing: list[str] = []
        self._missing_lock = threading.Lock()

    @property
    def unique_partials(self) -> bool:
        if self._unique is None:
            self._unique = unique_partials(self.settings.partials, self.settings.cache_dir)
        return self._unique

    # -- one blob -----------------------------------------------------------------------------
    def _mismatch(self, group: _Group, blob: Path) -> IntegrityError:
        ref = group.cache.ref
        return IntegrityError(
            f"{group.label()}: the cached blob {blob} does not match the lock "
            f"(sha256 {group.first.sha256[:12]}..., {group.first.size:,} bytes); "
            "nothing was linked to it.",
            hint=f"Run 'hubcli cache repair {ref}' (or 'hubcli cache rm {ref}') and sync again.",
        )

    def warm(self, group: _Group) -> bool:
        """The inline check of a warm run: blob stamped as the lock's, every link in place."""
        if self.force_hash:
            return False
        blob = group.cache.blob_path(group.etag)
        if not self.stamps.known(blob, group.first.sha256):
            return False
        commit = group.sync.repo.commit
        if not all(links_to(group.cache.snapshot_file(commit, f.path), blob) for f in group.files):
            return False
        for f in group.files:
            group.sync.statuses[f.path] = "cached"
        return True

    def run_group(self, group: _Group) -> None:
        cache, first, etag = group.cache, group.first, group.etag
        commit = group.sync.repo.commit
        blob = cache.blob_path(etag)
        status: FileStatus
        if blob.is_file():
            was_stamped = not self.force_hash and self.stamps.known(blob, first.sha256)
            if not self.stamps.verify(blob, first.sha256, size=first.size, force=self.force_hash):
                raise self._mismatch(group, blob)
            status = "cached" if was_stamped else "verified"
        else:
            status = self._place(group, blob)
            if status == "missing":
                with self._missing_lock:
                    self.missing.extend(group.label(f) for f in group.files)
                for f in group.files:
                    group.sync.statuses[f.path] = "missing"
                return
        for f in group.files:
            dest = cache.snapshot_file(commit, f.path)
            if not links_to(dest, blob):
                cache.link_snapshot(
                    commit, f.path, etag, use_symlinks=not self.settings.disable_symlinks
                )
            group.sync.statuses[f.path] = status
            status = "cached" if status in ("downloaded", "deduplicated", "tier") else status

    def _place(self, group: _Group, blob: Path) -> FileStatus:
        """Fill a missing blob: linked from another repo of the cache, else fetched (never
        offline); verified against the lock before it gets its name."""
        cache, first = group.cache, group.first
        cache.ensure_dirs()
        with BlobSlot(blob, lock=cache.lock(group.etag), unique=self.unique_partials) as slot:
            if slot.present():  # another process placed it meanwhile
                if not self.stamps.verify(blob, first.sha256, size=first.size):
                    raise self._mismatch(group, blob)
                return "verified"
            tier = self._tier_source(group)
            if tier is not None:
                if self.settings.disable_symlinks:  # no links here: a copy, no network
                    slot.fill(lambda tmp: copy_file(tier, tmp))
                else:
                    link_tier_blob(cache, group.etag, tier)
                self.progress.advance(group.etag, first.size)
                return "tier"
            src = self.blobs.find(group.etag)
            if src == blob or (
                src is not None
                and os.path.islink(src)
                and not is_inside(src, self.settings.cache_dir)
            ):
                src = None  # a link out of the cache (a tier): never hardlinked through
            if src is not None and self.stamps.verify(src, first.sha256, size=first.size):
                slot.fill(lambda tmp: link_or_copy(src, tmp))
                self.stamps.record(blob, first.sha256)
                self.progress.advance(group.etag, first.size)
                return "deduplicated"
            if self.offline:
                return "missing"
            fetched = slot.fill(lambda tmp: self._fetch(group, tmp))
            self.stamps.record(blob, first.sha256)
            self.blobs.add(group.etag, blob)
            group.sync.fetched_bytes += fetched
            return "downloaded"

    def _tier_source(self, group: _Group) -> Path | None:
        """A tier blob holding the lock's bytes (checked against the lock's sha256 through the
        stamps: hashed once, remembered by inode), or None."""
        if self.tiers is None:
            return None
        first = group.first
        found = self.tiers.locate(group.cache.ref, group.etag)
        if found is None:
            return None
        root = self.tiers.root_of(found)
        if root is None or not check_blob(found, LinkRoots.for_cache(root)).ok:
            return None
        if not self.stamps.verify(found, first.sha256, size=first.size):
            return None
        return found

    def _fetch(self, group: _Group, tmp: Path) -> int:
        """Fetch through the commit-pinned URL; the transfer checks the etag, this the lock's
        sha256 too (a regular file's blob is named by its git sha1). A mismatch removes the
        partial: the bad bytes never get the blob's name."""
        from hubcli.transfer.job import FetchJob

        first = group.first
        job = FetchJob(
            target=resolve_path(group.cache.ref, group.sync.repo.commit, first.path),
            tmp=tmp,
            size=first.size,
            etag=group.etag,
            key=group.etag,
            label=group.label(),
        )
        result = self.net.transfer().fetch(job)
        if not first.lfs:
            try:
                digest = sha256_file(tmp)
            except (OSError, ValueError) as exc:
                raise LocalFileError(f"Cannot read {tmp}: {exc}.") from exc
            if digest != first.sha256:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise IntegrityError(
                    f"{group.label()}: the server sent bytes with sha256 {digest[:12]}..., the "
                    f"lock says {first.sha256[:12]}...; nothing was placed.",
                    hint="The lock or the server is wrong: check 'git diff hubcli.lock', or "
                    "run 'hubcli lock --upgrade-repo' for this repo if it was rewritten.",
                )
        return result.fetched_bytes

    # -- per repo, after its blobs --------------------------------------------------------------
    def finish_repo(self, sync: RepoSync, cache: RepoCache) -> None:
        repo = sync.repo
        commit = repo.commit
        cache.ensure_dirs()
        try:
            cache.snapshot_dir(commit).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalFileError(f"Cannot create {cache.snapshot_dir(commit)}: {exc}.") from exc
        self._write_tree(sync, cache)
        if not is_commit_sha(repo.requested):
            current = cache.read_ref(repo.requested)
            if current == commit:
                sync.ref_status = "unchanged"
                cache.write_ref(repo.requested, commit)  # normalises a trailing newline
            elif current is None or self.write_refs:
                cache.write_ref(repo.requested, commit)
                sync.ref_status = "written"
            else:
                sync.ref_status, sync.ref_commit = "kept", current

    def _write_tree(self, sync: RepoSync, cache: RepoCache) -> None:
        """``trees/<commit>.json``: the full listing of the commit (huggingface_hub raises
        IncompleteSnapshotError from it when a snapshot misses a file asked for). A lock without
        include/exclude holds every file; a partial one needs the listing at the commit (one
        commit-pinned request, only when the tree is not cached yet and we are online)."""
        repo = sync.repo
        commit = repo.commit
        existing = cache.read_tree(commit)
        if existing is not None:
            return
        entries: list[FileEntry] | None = None
        if not repo.include and not repo.exclude:
            entries = [file_entry(f) for f in repo.files]
        elif not self.offline:
            from hubcli.client import HubClient

            listing = HubClient(self.net.session()).revision_listing(cache.ref, commit)
            by_path = {e.path: e for e in listing.entries}
            for f in repo.files:
                e = by_path.get(f.path)
                if e is None or e.etag != f.etag or e.size != f.size:
                    raise IntegrityError(
                        f"{cache.ref}@{commit[:12]}: the Hub's listing of the commit does not "
                        f"hold {f.path} as locked."
                    )
            entries = listing.entries
        if entries is not None:
            cache.write_tree(commit, entries)
            sync.tree_written = True

    # -- local-dir targets -----------------------------------------------------------------------
    def local_dirs(self, syncs: list[RepoSync], caches: dict[int, RepoCache]) -> None:
        by_dir: dict[Path, list[RepoSync]] = {}
        for s in syncs:
            if s.repo.local_dir is not None:
                target = (self.root / os.path.expanduser(s.repo.local_dir)).absolute()
                s.local_dir = target
                by_dir.setdefault(target, []).append(s)
        for target, group in by_dir.items():
            self._local_dir(target, group, caches)

    def _local_dir(self, target: Path, syncs: list[RepoSync], caches: dict[int, RepoCache]) -> None:
        sync_local_dir(target, syncs, caches, stamps=self.stamps, force_hash=self.force_hash)

    def close(self) -> None:
        self.stamps.save()


def sync_lock(
    lock: LockFile,
    settings: Settings,
    session: Callable[[], HubSession] | None,
    *,
    root: Path,
    offline: bool = False,
    verify: bool = False,
    write_refs: bool = False,
    max_workers: int = 8,
    progress: Progress | None = None,
    repos: Iterable[LockedRepo] | None = None,
) -> SyncResult:
    """Make the cache under ``settings.cache_dir`` (and local-dir targets, relative to ``root``)
    match ``lock``. ``session`` is a factory called only when something must be fetched.

    Raises IntegrityError (a cached or fetched file does not match the lock; nothing bad is
    linked or placed), OfflineError (``offline`` and files are missing: the message names them),
    and whatever a fetch raises (NetworkError, AuthError...).
    """
    started = time.monotonic()
    offline = offline or settings.offline
    progress = progress or NullProgress()
    syncer = _Syncer(
        settings,
        session,
        root=root,
        offline=offline,
        verify=verify,
        write_refs=write_refs,
        progress=progress,
    )
    chosen = list(lock.repos if repos is None else repos)
    syncs: list[RepoSync] = []
    caches: dict[int, RepoCache] = {}
    groups: list[_Group] = []
    for repo in chosen:
        ref = replace(repo.ref, revision=repo.requested)
        cache = RepoCache(settings.cache_dir, ref)
        s = RepoSync(repo=repo, path=cache.snapshot_dir(repo.commit))
        syncs.append(s)
        caches[id(s)] = cache
        by_etag: dict[str, list[LockedFile]] = {}
        for f in repo.files:
            by_etag.setdefault(f.etag, []).append(f)
        groups += [_Group(s, cache, tuple(fs)) for fs in by_etag.values()]
    try:
        todo = [g for g in groups if not syncer.warm(g)]
        need = sum(g.first.size for g in todo if not g.cache.blob_path(g.etag).is_file())
        errors: list[BaseException] = []
        if todo:
            progress.start(need, files=sum(len(g.files) for g in todo))
            pool = cf.ThreadPoolExecutor(
                max_workers=max(1, min(max_workers, len(todo))), thread_name_prefix="sync"
            )
            try:
                futures = [pool.submit(syncer.run_group, g) for g in todo]
                for fut in cf.as_completed(futures):
                    exc = fut.exception()
                    if exc is not None:
                        errors.append(exc)
            except KeyboardInterrupt:
                syncer.cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                pool.shutdown(wait=True)
                progress.done()
        if errors:
            errors.sort(key=lambda e: 0 if isinstance(e, IntegrityError) else 1)
            raise errors[0]
        if syncer.missing:
            shown = ", ".join(syncer.missing[:20])
            more = len(syncer.missing) - 20
            raise OfflineError(
                f"Offline: {len(syncer.missing)} locked file(s) are not in the cache "
                f"{settings.cache_dir}: {shown}" + (f" (+{more} more)." if more > 0 else "."),
                hint="Run 'hubcli sync' once while online (or restore the CI cache first).",
            )
        for s in syncs:
            syncer.finish_repo(s, caches[id(s)])
        syncer.local_dirs(syncs, caches)
    finally:
        syncer.close()
    return SyncResult(
        repos=syncs,
        offline=offline,
        hashed=syncer.stamps.hashed,
        elapsed=time.monotonic() - started,
    )
