"""Executing a download plan: files in parallel, each placed in the cache or a local dir.

A cache blob is fetched (or hard-linked from another repo of the cache, verified) once per etag
through a :class:`~hubcli.transfer.BlobSlot` (lock, partial, atomic replace) and linked from
``snapshots/``; a local-dir file is fetched into its own partial and moved into place. Ctrl-C
cancels the transfers and says whether a rerun resumes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from hubcli.cache.layout import BlobFinder, RepoCache, links_to
from hubcli.cache.tiers import Tiers, link_tier_blob
from hubcli.config import Settings
from hubcli.download.localdir import LocalDir
from hubcli.download.plan import Plan
from hubcli.errors import HubError, Interrupted, LocalFileError
from hubcli.fsinfo import unique_partials
from hubcli.hashing import verify_file
from hubcli.models import FileEntry
from hubcli.progress import Progress
from hubcli.repo import RepoRef, resolve_path
from hubcli.transfer.adaptive import (
    MANY_FILES,
    MANY_FILES_START,
    MAX_STREAMS,
    START_STREAMS,
    Concurrency,
    Gate,
)
from hubcli.transfer.job import DEFAULT_RANGE_THRESHOLD, Cancelled, FetchJob
from hubcli.transfer.lazy import LazyTransfer
from hubcli.transfer.partial import discard_partial, partial_name
from hubcli.transfer.placement import BlobSlot, link_or_copy

if TYPE_CHECKING:
    from hubcli.http import HubSession

DownloadStatus = Literal[
    "downloaded",
    "cached",
    "deduplicated",
    "tier",
    "would_download",
    "would_deduplicate",
    "would_link_tier",
]
STATUSES: tuple[DownloadStatus, ...] = get_args(DownloadStatus)


@dataclass(frozen=True)
class FileResult:
    """What happened to one file. ``status`` is one of :data:`STATUSES`."""

    path: str
    size: int
    etag: str
    status: DownloadStatus
    local_path: Path | None = None
    fetched_bytes: int = 0
    resumed_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "etag": self.etag,
            "status": self.status,
            "local_path": str(self.local_path) if self.local_path else None,
            "fetched_bytes": self.fetched_bytes,
            "resumed_bytes": self.resumed_bytes,
        }


def copy_file(src: Path, dest: Path) -> None:
    """Copy ``src`` to a fresh ``dest`` (``O_EXCL | O_NOFOLLOW``: nothing planted there is
    written through); for tier blobs where the cache has no symlinks (never a hardlink: the
    tier's inode is not ours to link)."""
    from hubcli.transfer.partial import O_NOFOLLOW

    with contextlib.suppress(FileNotFoundError):
        dest.unlink()
    try:
        with open(src, "rb") as fin:
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o666)
            with os.fdopen(fd, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    except OSError as exc:
        raise LocalFileError(f"Cannot copy {src} to {dest}: {exc.strerror or exc}.") from exc


def record_revision(
    cache: RepoCache,
    revision: str,
    commit: str,
    entries: list[FileEntry],
    *,
    tree: bool = True,
    keep_ref: bool = False,
) -> None:
    """refs/<rev>, an (at least empty) snapshot folder and trees/<commit>.json (``tree``).
    ``keep_ref``: write the ref only when the cache has none (a revision a tier resolved)."""
    cache.ensure_dirs()
    try:
        cache.make_dir(cache.snapshot_dir(commit))
    except OSError as exc:
        raise LocalFileError(f"Cannot create {cache.snapshot_dir(commit)}: {exc}.") from exc
    if revision != commit and not (keep_ref and cache.read_ref(revision) is not None):
        cache.write_ref(revision, commit)
    if tree and (not keep_ref or cache.read_tree(commit) is None):
        cache.write_tree(commit, entries)


class Run:
    """One execution of a plan: parallel files, cache or local-dir placement."""

    def __init__(
        self,
        *,
        settings: Settings,
        session: HubSession | Callable[[], HubSession] | None,
        ref: RepoRef,
        cache: RepoCache,
        ldir: LocalDir | None,
        plan: Plan,
        force: bool,
        progress: Progress,
        transfer_args: dict[str, Any],
        tiers: Tiers | None = None,
    ) -> None:
        self.settings = settings
        self.ref = ref
        self.cache = cache
        self.ldir = ldir
        self.plan = plan
        self.force = force
        self.progress = progress
        self.transfer_args = transfer_args
        self.cancel = threading.Event()
        self.served: list[str] = []
        self.net = LazyTransfer(
            session,
            what="download",
            progress=progress,
            cancel=self.cancel,
            first=plan.served_by[0] if plan.served_by else None,
            **transfer_args,
        )
        self._unique: bool | None = None
        self._recorded = False
        self._record_lock = threading.Lock()
        # Other repos' blobs, for cross-repo dedup (a local dir may reuse this repo's too).
        self.blobs = BlobFinder(settings.cache_dir, exclude=None if ldir else cache.path)
        # Read-only tiers, consulted before the writable cache (never written to).
        self.tiers = tiers

    # -- helpers ----------------------------------------------------------------------------
    def label(self, entry: FileEntry) -> str:
        return f"{self.ref}/{entry.path}"

    def dedup_source(self, entry: FileEntry) -> Path | None:
        src = self.blobs.find(entry.etag)
        if src is not None and os.path.islink(src) and not self._inside_cache(src):
            # a blob linking out of the writable cache (into a tier): a hardlink would follow it
            # onto the tier's inode; the tier look-up links it properly instead
            return None
        if src is not None and verify_file(src, entry.etag, size=entry.size):
            return src
        return None

    def _inside_cache(self, path: Path) -> bool:
        from hubcli.cache.links import is_inside

        return is_inside(path, self.settings.cache_dir)

    def tier_source(self, entry: FileEntry) -> Path | None:
        """A verified tier blob for ``entry`` (None without tiers, or when forced)."""
        if self.tiers is None or self.force:
            return None
        return self.tiers.verified(self.ref, entry.etag, entry.size)

    def _is_present(self, entry: FileEntry) -> bool:
        if self.ldir:
            return not self.force and self.ldir.is_current(entry)
        return not self.force and self.cache.blob_path(entry.etag).is_file()

    def _in_tier(self, entry: FileEntry) -> bool:
        return self.tiers is not None and not self.force and self.tiers.has(self.ref, entry.etag)

    # -- dry run ----------------------------------------------------------------------------
    def dry_run(self) -> list[FileResult]:
        status: DownloadStatus
        out = []
        for e in self.plan.wanted:
            if self._is_present(e):
                status = "cached"
            elif self._in_tier(e):
                status = "would_link_tier"
            elif not self.settings.offline and self.blobs.find(e.etag):
                status = "would_deduplicate"
            else:
                status = "would_download"
            out.append(FileResult(e.path, e.size, e.etag, status, self._local_path(e)))
        return out

    def _local_path(self, e: FileEntry) -> Path:
        if self.ldir:
            return self.ldir.file_path(e.path)
        return self.cache.snapshot_file(self.plan.commit, e.path)

    # -- execution --------------------------------------------------------------------------
    def execute(self, max_workers: int | None = None) -> list[FileResult]:
        """Fetch and place the plan's files. ``max_workers``: that many files at once (fixed);
        None: adaptive (:mod:`hubcli.transfer.adaptive`) when the files are small, else 8."""
        plan = self.plan
        if self.ldir is not None:
            self.ldir.prepare()
            if plan.from_network:
                self.ldir.write_tree(plan.commit, plan.entries)
            groups: list[list[FileEntry]] = [[e] for e in plan.wanted]
        else:
            by_etag: dict[str, list[FileEntry]] = {}
            for e in plan.wanted:
                by_etag.setdefault(e.etag, []).append(e)
            groups = list(by_etag.values())
        results: list[FileResult] = []
        if self.ldir is None:
            # Already linked in this snapshot: answered inline (a cached re-run starts no pool).
            missing = []
            for g in groups:
                if self._already_linked(g):
                    results.extend(self._cached_results(g))
                else:
                    missing.append(g)
            groups = missing
        self.check_space(groups)
        todo = sum(g[0].size for g in groups if not self._is_present(g[0]))
        self.progress.start(todo, files=len(plan.wanted))
        task = self._local_task if self.ldir is not None else self._cache_task
        errors: list[BaseException] = []
        gate = Gate(self.file_concurrency(max_workers, groups))
        threads = gate.concurrency.target if gate.concurrency.fixed else gate.concurrency.ceiling
        pool = cf.ThreadPoolExecutor(
            max_workers=max(1, min(threads, len(groups))), thread_name_prefix="dl"
        )
        try:
            futures = [pool.submit(gate.run, task, g) for g in groups]
            # as_completed registers one waiter for the whole run (cf.wait in a loop put one on
            # every pending future again after each finished file: quadratic in the files)
            for fut in cf.as_completed(futures):
                exc = fut.exception()
                if exc is not None:
                    errors.append(exc)
                else:
                    results.extend(fut.result())
        except KeyboardInterrupt:
            self.cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise self.interrupted() from None
        finally:
            pool.shutdown(wait=True)
            self.progress.done()
            if self.tiers is not None:
                self.tiers.save()
        self.served = self.net.served
        if errors:
            self._forget_if_empty()
            if any(isinstance(e, Cancelled) for e in errors):
                raise self.interrupted()
            errors.sort(key=lambda e: 0 if isinstance(e, HubError) else 1)
            raise errors[0]
        if self.ldir is None:
            self._record()
        return sorted(results, key=lambda r: r.path)

    def file_concurrency(
        self, max_workers: int | None, groups: list[list[FileEntry]]
    ) -> Concurrency:
        """Files at once: ``max_workers`` when given; else adaptive up to
        :data:`~hubcli.transfer.adaptive.MAX_STREAMS` for small files (latency-bound: more
        connections pay while files per second grow), from 8, or from 16 when there are at least
        64 of them, and 8 when big files are among them (each runs its own adaptive ranged
        streams)."""
        if max_workers is not None:
            return Concurrency(max_workers, max_workers, fixed=True)
        threshold = self.transfer_args.get("range_threshold", DEFAULT_RANGE_THRESHOLD)
        small = all(g[0].size < threshold for g in groups)
        limited = self.settings.limit_rate is not None  # a rate cap: no adaptive growth
        start = MANY_FILES_START if small and len(groups) >= MANY_FILES else START_STREAMS
        return Concurrency(start, MAX_STREAMS, fixed=limited or not small)

    def _record(self) -> None:
        """refs/, the snapshot folder and the listing, written once the first file is here
        (never before: a refused download, 401 or gated, leaves no trace in the cache)."""
        with self._record_lock:
            plan = self.plan
            if self._recorded or not (plan.from_network or plan.from_tier):
                return
            revision = self.ref.revision or "main"
            if plan.from_network:
                record_revision(self.cache, revision, plan.commit, plan.entries)
            else:  # what a tier gave: the ref and tree the writable cache lacks, never replaced
                record_revision(
                    self.cache, revision, plan.commit, plan.entries,
                    tree=plan.tier_tree, keep_ref=True,
                )  # fmt: skip
            self._recorded = True

    def _forget_if_empty(self) -> None:
        """After a failure before anything was recorded: remove the folders the transfers
        made (``blobs/``, the repo folder) when they hold nothing."""
        if self.ldir is not None or self._recorded:
            return
        for folder in (self.cache.blobs_dir, self.cache.path):
            with contextlib.suppress(OSError):
                folder.rmdir()

    def interrupted(self) -> Interrupted:
        where = self.ldir.root if self.ldir is not None else self.cache.cache_dir
        if self._unique:
            return Interrupted(
                f"download of {self.ref} interrupted; nothing half-written is visible in {where}.",
                hint="Rerun the same command; partial files are per process here (a network "
                "filesystem, or HUBCLI_PARTIALS=unique), so unfinished files start again.",
            )
        return Interrupted(
            f"download of {self.ref} interrupted; partial files are kept in {where}.",
            hint="Rerun the same command: it resumes from the bytes already on disk.",
        )

    @property
    def unique_partials(self) -> bool:
        """Process-unique partial files (network filesystems: see :mod:`hubcli.fsinfo`)."""
        if self._unique is None:
            folder = self.ldir.root if self.ldir is not None else self.cache.cache_dir
            self._unique = unique_partials(self.settings.partials, folder)
        return self._unique

    def partial_path(self, entry: FileEntry) -> Path:
        """Where a local-dir file's bytes are written before they are verified and moved into
        place (a cache blob's partial is its :class:`~hubcli.transfer.BlobSlot`'s)."""
        assert self.ldir is not None
        tmp = self.ldir.incomplete_path(entry.path, entry.etag)
        return partial_name(tmp, unique=self.unique_partials)

    def check_space(self, groups: list[list[FileEntry]]) -> None:
        """Refuse up front (exit 8) when the files still to fetch cannot fit on the disk."""
        need = sum(
            g[0].size
            for g in groups
            if not self._is_present(g[0]) and (self.ldir is not None or not self._in_tier(g[0]))
        )
        if not need:
            return
        folder = self.ldir.root if self.ldir is not None else self.cache.cache_dir
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        try:
            free = shutil.disk_usage(probe).free
        except OSError:
            return
        if need > free:
            raise LocalFileError(
                f"Not enough disk space in {folder}: {self.ref} needs {need:,} more bytes, "
                f"{free:,} are free.",
                hint="Free some space, narrow the download with --include, or use --cache-dir.",
            )

    def _fetch(self, entry: FileEntry, tmp: Path) -> tuple[int, int]:
        job = FetchJob(
            target=resolve_path(self.ref, self.plan.commit, entry.path),
            tmp=tmp,
            size=entry.size,
            etag=entry.etag,
            key=entry.etag if self.ldir is None else entry.path,
            label=self.label(entry),
        )
        r = self.net.transfer().fetch(job)
        return r.fetched_bytes, r.reused_bytes

    def _already_linked(self, group: list[FileEntry]) -> bool:
        commit = self.plan.commit
        return not self.force and all(self.cache.snapshot_has(commit, e.path) for e in group)

    def _cached_results(self, group: list[FileEntry]) -> list[FileResult]:
        commit = self.plan.commit
        return [
            FileResult(e.path, e.size, e.etag, "cached", self.cache.snapshot_file(commit, e.path))
            for e in group
        ]

    def _cache_task(self, group: list[FileEntry]) -> list[FileResult]:
        cache, first = self.cache, group[0]
        etag, size = first.etag, first.size
        status: DownloadStatus = "cached"
        fetched = resumed = 0
        if self._already_linked(group):
            return self._cached_results(group)
        blob = cache.blob_path(etag)
        slot = BlobSlot(blob, lock=cache.lock(etag), unique=self.unique_partials)
        with slot:
            if self.force or not slot.present():
                tier = self.tier_source(first)
                src = None if self.force or tier is not None else self.dedup_source(first)
                if tier is not None:
                    if self.settings.disable_symlinks:  # no links here: a copy, no network
                        slot.fill(lambda tmp: copy_file(tier, tmp))
                    else:
                        link_tier_blob(cache, etag, tier)
                    status = "tier"
                    self.progress.advance(etag, size)
                elif src is not None:
                    slot.fill(lambda tmp: link_or_copy(src, tmp))
                    status = "deduplicated"
                    self.progress.advance(etag, size)
                else:
                    fetched, resumed = slot.fill(lambda tmp: self._fetch(first, tmp))
                    status = "downloaded"
            self._record()
            out = []
            for e in group:
                dest = cache.snapshot_file(self.plan.commit, e.path)
                if self.force or not links_to(dest, blob):
                    dest = cache.link_snapshot(
                        self.plan.commit,
                        e.path,
                        etag,
                        use_symlinks=not self.settings.disable_symlinks,
                    )
                out.append(FileResult(e.path, e.size, etag, status, dest, fetched, resumed))
                fetched = resumed = 0
        return out

    def _local_task(self, group: list[FileEntry]) -> list[FileResult]:
        status: DownloadStatus
        assert self.ldir is not None
        ldir, entry = self.ldir, group[0]
        with ldir.lock(entry.path):
            dest = ldir.file_path(entry.path)
            fetched = resumed = 0
            if not self.force and dest.is_file() and not dest.is_symlink():
                meta = ldir.read_metadata(entry.path)
                if (meta is not None and meta.etag == entry.etag) or (
                    meta is None and verify_file(dest, entry.etag, size=entry.size)
                ):
                    if meta is None or meta.commit != self.plan.commit:
                        ldir.write_metadata(entry.path, self.plan.commit, entry.etag)
                    return [FileResult(entry.path, entry.size, entry.etag, "cached", dest)]
            src = self.tier_source(entry)
            from_tier = src is not None
            if src is None and not self.force:
                src = self.dedup_source(entry)
            if src is None and self.settings.offline:
                src = self.cache.snapshot_file(self.plan.commit, entry.path)
            if src is not None:
                ldir.place(entry.path, src, move=False)
                self.progress.advance(entry.path, entry.size)
                status = "tier" if from_tier else "deduplicated"
            else:
                tmp = self.partial_path(entry)
                try:
                    fetched, resumed = self._fetch(entry, tmp)
                    ldir.place(entry.path, tmp, move=True)
                finally:
                    if self.unique_partials or not tmp.exists():
                        discard_partial(tmp)
                status = "downloaded"
            ldir.write_metadata(entry.path, self.plan.commit, entry.etag)
        return [FileResult(entry.path, entry.size, entry.etag, status, dest, fetched, resumed)]
