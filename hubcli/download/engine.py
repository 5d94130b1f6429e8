"""Downloads for offline use: plan a revision, fetch only what is missing, place it the HF way.

``download(settings, session, ref, ...)`` is the engine behind ``Hub.download``. A
branch or tag costs one metadata request (repo info with ``blobs=true`` gives the commit and every
file's size and etag); a fully cached commit costs none. Blobs are fetched once per etag under the
same lock huggingface_hub takes, verified, renamed into ``blobs/`` and linked from ``snapshots/``;
a blob already present in another repo of the cache is hard-linked instead of fetched (the
execution lives in :mod:`hubcli.download.run`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.cache.access import touch_access
from hubcli.cache.layout import RepoCache
from hubcli.cache.tiers import tiers_for
from hubcli.config import Settings
from hubcli.download.localdir import LocalDir
from hubcli.download.plan import (
    Plan,
    cached_plan,
    folder_error,
    folder_names,
    offline_plan,
    require_selection,
    select_files,
    single_file,
)
from hubcli.download.run import STATUSES, FileResult, Run, record_revision
from hubcli.errors import EntryNotFoundError, HubError
from hubcli.progress import NullProgress, Progress
from hubcli.repo import RepoRef, validate_repo_path
from hubcli.transfer.job import DEFAULT_RANGE_THRESHOLD

if TYPE_CHECKING:
    from hubcli.http import HubSession

__all__ = ["STATUSES", "DownloadResult", "FileResult", "download"]


@dataclass(frozen=True)
class DownloadResult:
    """The outcome of :func:`download`. ``path`` is what a script wants (snapshot, file or dir);
    after a dry run it is only where the files would go (nothing was created)."""

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
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "revision": self.revision,
            "commit": self.commit,
            # a dry run creates nothing: the path it would fill is only "planned_path"
            "path": None if self.dry_run else str(self.path),
            "planned_path": str(self.path),
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
    part_size: int | None = None,
    range_workers: int | None = None,
) -> DownloadResult:
    """Make ``ref`` (at ``ref.revision``, default ``main``) available offline and say where.

    Raises NotFoundError (repo, revision, file; a missing file also gets a ``.no_exist`` marker),
    AuthError, NetworkError, IntegrityError (hash mismatch, unsafe path), OfflineError (offline
    and not cached: the message names the missing files), LocalFileError (disk full...).
    Interrupting (KeyboardInterrupt) keeps partial files; the next run resumes them.
    ``max_workers`` fixes the number of connections (files at once, and streams per big file);
    None adapts it (:mod:`hubcli.transfer.adaptive`). ``part_size`` / ``range_workers`` fix the
    parts and streams of a ranged download (default: from the file size / adaptive).
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

    tiers = tiers_for(settings.cache_tiers, settings.state_dir, cache_dir=settings.cache_dir)
    plan: Plan | None
    if settings.offline:
        plan = offline_plan(cache, ldir, revision, files, include, exclude, tiers)
    else:
        plan = cached_plan(cache, ldir, revision, files, include, exclude, force, tiers)
        if plan is None:
            if session is None:
                raise ValueError("download: a session is needed unless offline.")
            # A factory is only called now that a request is needed.
            live: HubSession = session() if callable(session) else session
            session = live
            from hubcli.client import HubClient  # not on the cached path: no HTTP stack there

            listing = HubClient(live).revision_listing(ref, revision)
            commit, entries = listing.commit, listing.entries
            wanted, missing = select_files(entries, files=files, include=include, exclude=exclude)
            plan = Plan(commit, entries, wanted, single_file(files), True, [listing.served_by])
            folders = folder_names(entries, missing)
            if folders:
                raise folder_error(f"{ref}@{revision}", folders, commit)
            if missing:
                if not dry_run and ldir is None:
                    record_revision(cache, revision, commit, entries)
                    for name in missing:
                        with contextlib.suppress(HubError, OSError):
                            cache.mark_missing(commit, name.rstrip("/"))
                raise EntryNotFoundError(
                    f"{ref}@{revision}: not in the repo at commit {commit[:12]}: "
                    + ", ".join(missing),
                    commit=commit,
                )
            require_selection(
                entries,
                wanted,
                files=files,
                include=include,
                exclude=exclude,
                where=f"{ref}@{revision}",
                commit=commit,
            )

    if max_workers is None and settings.source("max_workers") != "default":
        max_workers = settings.max_workers  # HUBCLI_MAX_WORKERS: fixed, as --max-workers is
    if range_workers is None:
        range_workers = max_workers  # --max-workers caps the streams of a big file too
    run = Run(
        settings=settings,
        session=session,
        ref=ref,
        cache=cache,
        ldir=ldir,
        plan=plan,
        force=force,
        progress=progress,
        tiers=tiers,
        transfer_args={
            "range_threshold": range_threshold,
            "part_size": part_size,
            "range_workers": range_workers,
        },
    )
    results = run.dry_run() if dry_run else run.execute(max_workers)
    if ldir is not None:
        target = ldir.file_path(plan.single) if plan.single else ldir.root
    else:
        snap = cache.snapshot_dir(plan.commit)
        target = cache.snapshot_file(plan.commit, plan.single) if plan.single else snap
    served = list(dict.fromkeys(plan.served_by + run.served))
    if not dry_run and ldir is None:
        touch_access(settings.cache_dir, ref, plan.commit)  # for LRU budgets (cache prune)
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
