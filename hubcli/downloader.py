"""Downloads for offline use: plan a revision, fetch only what is missing, place it the HF way.

``download(settings, session, ref, ...)`` is the library entry (also ``hubcli.download``). A
branch or tag costs one metadata request (repo info with ``blobs=true`` gives the commit and every
file's size and etag); a fully cached commit costs none. Blobs are fetched once per etag under the
same lock huggingface_hub takes, verified, renamed into ``blobs/`` and linked from ``snapshots/``;
a blob already present in another repo of the cache is hard-linked instead of fetched.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hubcli.cache import RepoCache, find_blob
from hubcli.config import Settings
from hubcli.download_plan import (
    Plan,
    cached_plan,
    fetch_listing,
    offline_plan,
    select_files,
    single_file,
)
from hubcli.errors import EntryNotFoundError, HubError, Interrupted, LocalFileError
from hubcli.fsinfo import unique_partials
from hubcli.localdir import LocalDir
from hubcli.models import FileEntry
from hubcli.progress import NullProgress, Progress
from hubcli.repo import RepoRef, validate_repo_path
from hubcli.transfer import (
    DEFAULT_PART_SIZE,
    DEFAULT_RANGE_THRESHOLD,
    DEFAULT_RANGE_WORKERS,
    Cancelled,
    Transfer,
    discard_partial,
    file_matches_etag,
)

if TYPE_CHECKING:
    from hubcli.http import HubSession

DEFAULT_MAX_WORKERS = 8
STATUSES = ("downloaded", "cached", "deduplicated", "would_download", "would_deduplicate")


@dataclass(frozen=True)
class FileResult:
    """What happened to one file. ``status`` is one of :data:`STATUSES`."""

    path: str
    size: int
    etag: str
    status: str
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


@dataclass(frozen=True)
class DownloadResult:
    """The outcome of :func:`download`. ``path`` is what a script wants (snapshot, file or dir)."""

    repo_id: str
    repo_type: str
    revision: str
    commit: str
    path: Path
    files: tuple[FileResult, ...]
    dry_run: bool = False
    offline: bool = False
    local_dir: Path | None = None
    served_by: tuple[str, ...] = ()
    elapsed: float = 0.0

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def fetched_bytes(self) -> int:
        return sum(f.fetched_bytes for f in self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo_id,
            "type": self.repo_type,
            "revision": self.revision,
            "commit": self.commit,
            "path": str(self.path),
            "local_dir": str(self.local_dir) if self.local_dir else None,
            "dry_run": self.dry_run,
            "offline": self.offline,
            "served_by": list(self.served_by),
            "total_size": self.total_size,
            "fetched_bytes": self.fetched_bytes,
            "elapsed": round(self.elapsed, 3),
            "files": [f.to_json() for f in self.files],
        }


# -- the entry point ---------------------------------------------------------------------------
def download(
    settings: Settings,
    session: HubSession | Callable[[], HubSession] | None,
    ref: RepoRef,
    *,
    files: Sequence[str] | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    local_dir: Path | str | None = None,
    force: bool = False,
    dry_run: bool = False,
    max_workers: int | None = None,
    progress: Progress | None = None,
    range_threshold: int = DEFAULT_RANGE_THRESHOLD,
    part_size: int = DEFAULT_PART_SIZE,
    range_workers: int = DEFAULT_RANGE_WORKERS,
) -> DownloadResult:
    """Make ``ref`` (at ``ref.revision``, default ``main``) available offline and say where.

    Raises NotFoundError (repo, revision, file; a missing file also gets a ``.no_exist`` marker),
    AuthError, NetworkError, IntegrityError (hash mismatch, unsafe path), OfflineError (offline
    and not cached: the message names the missing files), LocalFileError (disk full...).
    Interrupting (KeyboardInterrupt) keeps partial files; the next run resumes them.
    ``session`` may be a zero-argument factory, called only if a request is needed.
    """
    started = time.monotonic()
    if ref.path and not files:
        files = [ref.path]
    files = [validate_repo_path(f, allow_trailing_slash=True) for f in files or []] or None
    revision = ref.revision or "main"
    ref = replace(ref, revision=revision, path=None)
    cache = RepoCache(settings.cache_dir, ref)
    ldir = LocalDir(Path(local_dir).expanduser()) if local_dir is not None else None
    progress = progress or NullProgress()
    include, exclude = list(include), list(exclude)

    plan: Plan | None
    if settings.offline:
        plan = offline_plan(cache, ldir, revision, files, include, exclude)
    else:
        plan = cached_plan(cache, ldir, revision, files, include, exclude, force)
        if plan is None:
            if session is None:
                raise ValueError("download: a session is needed unless offline.")
            # A factory is only called now that a request is needed.
            live: HubSession = session() if callable(session) else session
            session = live
            commit, entries = fetch_listing(live, ref, revision)
            wanted, missing = select_files(entries, files=files, include=include, exclude=exclude)
            plan = Plan(commit, entries, wanted, single_file(files), True, [live.last_base])
            if missing:
                if not dry_run and ldir is None:
                    _record_revision(cache, revision, commit, entries)
                    for name in missing:
                        with contextlib.suppress(HubError, OSError):
                            cache.mark_missing(commit, name.rstrip("/"))
                raise EntryNotFoundError(
                    f"{ref}@{revision}: not in the repo at commit {commit[:12]}: "
                    + ", ".join(missing),
                    commit=commit,
                )

    run = _Run(
        settings=settings,
        session=session,
        ref=ref,
        cache=cache,
        ldir=ldir,
        plan=plan,
        force=force,
        progress=progress,
        transfer_args={
            "range_threshold": range_threshold,
            "part_size": part_size,
            "range_workers": range_workers,
        },
    )
    results = run.dry_run() if dry_run else run.execute(max_workers or DEFAULT_MAX_WORKERS)
    if ldir is not None:
        target = ldir.file_path(plan.single) if plan.single else ldir.root
    else:
        snap = cache.snapshot_dir(plan.commit)
        target = cache.snapshot_file(plan.commit, plan.single) if plan.single else snap
    served = list(dict.fromkeys(plan.served_by + run.served))
    return DownloadResult(
        repo_id=ref.repo_id,
        repo_type=ref.repo_type,
        revision=revision,
        commit=plan.commit,
        path=target,
        files=tuple(results),
        dry_run=dry_run,
        offline=settings.offline,
        local_dir=ldir.root if ldir else None,
        served_by=tuple(served),
        elapsed=time.monotonic() - started,
    )


def _record_revision(
    cache: RepoCache, revision: str, commit: str, entries: list[FileEntry]
) -> None:
    """refs/<rev>, an (at least empty) snapshot folder and trees/<commit>.json."""
    cache.ensure_dirs()
    try:
        cache.snapshot_dir(commit).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalFileError(f"Cannot create {cache.snapshot_dir(commit)}: {exc}.") from exc
    if revision != commit:
        cache.write_ref(revision, commit)
    cache.write_tree(commit, entries)


class _Run:
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
    ) -> None:
        self.settings = settings
        self.session = session
        self.ref = ref
        self.cache = cache
        self.ldir = ldir
        self.plan = plan
        self.force = force
        self.progress = progress
        self.transfer_args = transfer_args
        self.cancel = threading.Event()
        self.served: list[str] = []
        self._transfer: Transfer | None = None
        self._unique: bool | None = None

    # -- helpers ----------------------------------------------------------------------------
    def transfer(self) -> Transfer:
        if self._transfer is None:
            if self.session is None:
                raise ValueError("download: a session is needed to fetch files.")
            live = self.session() if callable(self.session) else self.session
            self.session = live
            first = self.plan.served_by[0] if self.plan.served_by else live.endpoint
            bases = [first] + [b for b in [live.endpoint, *live.mirrors] if b != first]
            self._transfer = Transfer(
                live,
                bases=bases,
                progress=self.progress,
                cancel=self.cancel,
                **self.transfer_args,
            )
        return self._transfer

    def resolve_path(self, entry: FileEntry) -> str:
        return (
            f"/{self.ref.url_prefix}{self.ref.repo_id}/resolve/{self.plan.commit}/"
            f"{quote(entry.path, safe='/')}"
        )

    def label(self, entry: FileEntry) -> str:
        return f"{self.ref}/{entry.path}"

    def dedup_source(self, entry: FileEntry) -> Path | None:
        exclude = None if self.ldir else self.cache.path
        src = find_blob(self.settings.cache_dir, entry.etag, exclude=exclude)
        if src is not None and file_matches_etag(src, entry.etag, entry.size):
            return src
        return None

    def _is_present(self, entry: FileEntry) -> bool:
        if self.ldir:
            return not self.force and self.ldir.is_current(entry)
        return not self.force and self.cache.blob_path(entry.etag).is_file()

    # -- dry run ----------------------------------------------------------------------------
    def dry_run(self) -> list[FileResult]:
        out = []
        for e in self.plan.wanted:
            if self._is_present(e):
                status = "cached"
            elif not self.settings.offline and find_blob(
                self.settings.cache_dir, e.etag, exclude=None if self.ldir else self.cache.path
            ):
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
    def execute(self, max_workers: int) -> list[FileResult]:
        plan = self.plan
        if self.ldir is not None:
            self.ldir.prepare()
            if plan.from_network:
                self.ldir.write_tree(plan.commit, plan.entries)
            groups: list[list[FileEntry]] = [[e] for e in plan.wanted]
        else:
            if plan.from_network:
                _record_revision(self.cache, self.ref.revision or "main", plan.commit, plan.entries)
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
        pool = cf.ThreadPoolExecutor(
            max_workers=max(1, min(max_workers, len(groups))), thread_name_prefix="dl"
        )
        try:
            futures = [pool.submit(task, g) for g in groups]
            pending = set(futures)
            while pending:
                done, pending = cf.wait(pending, timeout=0.5)
                for fut in done:
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
        if self._transfer is not None:
            self.served = list(self._transfer.served)
        if errors:
            if any(isinstance(e, Cancelled) for e in errors):
                raise self.interrupted()
            errors.sort(key=lambda e: 0 if isinstance(e, HubError) else 1)
            raise errors[0]
        return sorted(results, key=lambda r: r.path)

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
        """Where ``entry``'s bytes are written before they are verified and moved into place."""
        if self.ldir is not None:
            tmp = self.ldir.incomplete_path(entry.path, entry.etag)
        else:
            tmp = self.cache.blob_path(entry.etag).with_name(f"{entry.etag}.incomplete")
        if self.unique_partials:
            tmp = tmp.with_name(
                tmp.name.replace(".incomplete", f".{os.urandom(4).hex()}.incomplete")
            )
        return tmp

    def check_space(self, groups: list[list[FileEntry]]) -> None:
        """Refuse up front (exit 8) when the files still to fetch cannot fit on the disk."""
        need = sum(g[0].size for g in groups if not self._is_present(g[0]))
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
        r = self.transfer().fetch(
            target=self.resolve_path(entry),
            tmp=tmp,
            size=entry.size,
            etag=entry.etag,
            key=entry.etag if self.ldir is None else entry.path,
            label=self.label(entry),
        )
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
        status, fetched, resumed = "cached", 0, 0
        if self._already_linked(group):
            return self._cached_results(group)
        with cache.lock(etag):
            blob = cache.blob_path(etag)
            if self.force or not blob.is_file():
                src = None if self.force else self.dedup_source(first)
                tmp = self.partial_path(first)
                try:
                    if src is not None:
                        _link_or_copy(src, tmp)
                        status = "deduplicated"
                        self.progress.advance(etag, size)
                    else:
                        fetched, resumed = self._fetch(first, tmp)
                        status = "downloaded"
                    try:
                        os.replace(tmp, blob)
                    except OSError as exc:
                        raise LocalFileError(
                            f"Cannot place {blob}: {exc.strerror or exc}."
                        ) from exc
                finally:
                    if self.unique_partials or blob.is_file():
                        discard_partial(tmp)
            out = []
            for e in group:
                dest = cache.snapshot_file(self.plan.commit, e.path)
                if self.force or not _link_ok(dest, blob):
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
        assert self.ldir is not None
        ldir, entry = self.ldir, group[0]
        with ldir.lock(entry.path):
            dest = ldir.file_path(entry.path)
            fetched = resumed = 0
            if not self.force and dest.is_file() and not dest.is_symlink():
                meta = ldir.read_metadata(entry.path)
                if (meta is not None and meta.etag == entry.etag) or (
                    meta is None and file_matches_etag(dest, entry.etag, entry.size)
                ):
                    if meta is None or meta.commit != self.plan.commit:
                        ldir.write_metadata(entry.path, self.plan.commit, entry.etag)
                    return [FileResult(entry.path, entry.size, entry.etag, "cached", dest)]
            src = None if self.force else self.dedup_source(entry)
            if src is None and self.settings.offline:
                src = self.cache.snapshot_file(self.plan.commit, entry.path)
            if src is not None:
                ldir.place(entry.path, src, move=False)
                self.progress.advance(entry.path, entry.size)
                status = "deduplicated"
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


def _link_ok(dest: Path, blob: Path) -> bool:
    """True when ``dest`` already points at ``blob`` (or is a full copy of the right size)."""
    try:
        if os.path.islink(dest):
            return os.readlink(dest) == os.path.relpath(blob, dest.parent) and blob.is_file()
        return dest.is_file() and dest.stat().st_size == blob.stat().st_size
    except OSError:
        return False


def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (a copy where hard links fail), replacing ``dest``."""
    with contextlib.suppress(FileNotFoundError):
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise LocalFileError(f"Cannot copy {src} to {dest}: {exc.strerror or exc}.") from exc
