"""Size budgets: evict least-recently-used revisions until the cache fits, never a pinned one.

``plan_budget`` orders every revision of the cache by last access (hubcli's own record, see
:mod:`hubcli.cache.access`) and evicts from the oldest: with ``max_size`` until the cache (every
inode counted once, as ``cache du`` counts it) fits; with ``older_than`` only revisions unused for
that long; with both, the old ones until it fits. A revision is never evicted when it is pinned
(a lock file names its commit: ``--keep-locked``) or in use (a download holds a lock of its repo).

The plan is exact about shared bytes: a blob is freed only when no kept revision of its repo links
it, and its bytes count only when every hardlink of its inode goes (a blob ``cache dedup`` shared
with a kept repo frees nothing; the same blob evicted from both repos frees it once). A repo blob
that links into huggingface_hub's shared store or a read-only tier frees nothing either (hubcli
never deletes the payload there).

Execution holds every lock of a repo while evicting from it (a download that started since the
plan makes the repo skipped, reported), and re-checks before deleting a blob that no snapshot
links to it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.cache.access import access_dir, forget_access, read_access
from hubcli.cache.clean import Deletion, DeletionPlan, _remove, _repo_locks_free
from hubcli.cache.layout import RepoCache
from hubcli.cache.records import InodeKey, ScannedRepo, ScannedRevision
from hubcli.cache.scan import CacheScan, scan_cache, scan_repo

Pin = tuple[str, str, str]
"""(repo type, repo id, commit): a revision a lock file names."""


@dataclass(frozen=True)
class Eviction:
    repo: str
    commit: str
    accessed: float
    recorded: bool  # the last access comes from hubcli's record (else from file times)
    frees: int

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "commit": self.commit,
            "last_accessed": self.accessed,
            "recorded": self.recorded,
            "bytes": self.frees,
        }


@dataclass
class BudgetPlan(DeletionPlan):
    """A deletion plan (items with exact sizes) plus what the budget decided and why."""

    size_before: int = 0
    max_size: int | None = None
    older_than: float | None = None
    evictions: list[Eviction] = field(default_factory=list)
    kept: list[tuple[str, str, str]] = field(default_factory=list)  # (repo, commit, reason)

    @property
    def size_after(self) -> int:
        return self.size_before - self.freed

    @property
    def fits(self) -> bool:
        return self.max_size is None or self.size_after <= self.max_size

    def to_json(self, *, executed: bool) -> dict[str, Any]:
        doc = super().to_json(executed=executed)
        doc["budget"] = {
            "max_size": self.max_size,
            "older_than": self.older_than,
            "size_before": self.size_before,
            "size_after": self.size_before - (self.freed_done if executed else self.freed),
            "fits": self.fits,
            "evicted": [e.to_json() for e in self.evictions],
            "kept": [{"repo": r, "commit": c, "reason": why} for r, c, why in self.kept],
        }
        return doc


def _last_access(rev: ScannedRevision, repo: ScannedRepo, recorded: dict[str, float]) -> float:
    if rev.commit in recorded:
        return recorded[rev.commit]
    best = rev.last_modified
    for etag in rev.etags:
        blob = repo.blobs.get(etag)
        if blob is not None and blob.atime > best:
            best = blob.atime
    with contextlib.suppress(OSError):
        best = max(best, os.stat(rev.path).st_mtime)
    return best


class _Simulation:
    """Evicts revisions on paper and counts exactly the bytes each removal frees."""

    def __init__(self, scan: CacheScan) -> None:
        self.scan = scan
        self.freed = 0
        self.deleted: dict[InodeKey, int] = {}
        self.bytes: dict[tuple[str, str, str], int] = {}  # (repo path, kind, name) -> freed
        self.refcount: dict[str, dict[str, int]] = {}
        self.evicted: dict[str, set[str]] = {}
        for repo in scan.repos:
            counts: dict[str, int] = {}
            for rev in repo.revisions:
                for etag in rev.etags:
                    counts[etag] = counts.get(etag, 0) + 1
            self.refcount[repo.path] = counts

    def _drop(self, key: InodeKey, size: int, nlink: int, item: tuple[str, str, str]) -> int:
        n = self.deleted.get(key, 0) + 1
        self.deleted[key] = n
        if n == max(1, nlink):
            self.freed += size
            self.bytes[item] = self.bytes.get(item, 0) + size
            return size
        return 0

    def _drop_blob(self, repo: ScannedRepo, etag: str) -> int:
        blob = repo.blobs.get(etag)
        if blob is None or not blob.exists or blob.shared or blob.problem is not None:
            return 0
        return self._drop(blob.key, blob.size, blob.nlink, (repo.path, "blob", etag))

    def evict(self, repo: ScannedRepo, rev: ScannedRevision) -> int:
        before = self.freed
        gone = self.evicted.setdefault(repo.path, set())
        gone.add(rev.commit)
        counts = self.refcount[repo.path]
        for etag in rev.etags:
            counts[etag] -= 1
            if counts[etag] == 0:
                self._drop_blob(repo, etag)
        for f in rev.files:
            if f.is_link or not f.exists or f.problem is not None:
                continue
            try:
                st = os.lstat(f.snapshot_path)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            self._drop(key, st.st_size, st.st_nlink, (repo.path, "revision", rev.commit))
        if len(gone) == len(repo.revisions):  # the whole folder goes: unreferenced blobs too
            for etag in repo.blobs:
                if etag not in counts:
                    self._drop_blob(repo, etag)
        return self.freed - before

    def items(self, repo: ScannedRepo) -> list[Deletion]:
        gone = self.evicted.get(repo.path, set())
        if not gone:
            return []
        ref = repo.ref
        if len(gone) == len(repo.revisions):
            size = sum(n for (path, _k, _n), n in self.bytes.items() if path == repo.path)
            return [Deletion("repo", repo.path, ref, size, detail=repo.display_id)]
        out: list[Deletion] = []
        for rev in repo.revisions:
            if rev.commit in gone:
                size = self.bytes.get((repo.path, "revision", rev.commit), 0)
                out.append(Deletion("revision", rev.path, ref, size, detail=rev.commit))
        for name, commit in sorted(repo.refs.items()):
            if commit in gone:
                path = os.path.join(repo.path, "refs", *name.split("/"))
                out.append(Deletion("ref", path, ref, detail=name))
        counts = self.refcount[repo.path]
        used_before = repo.referenced_etags()
        for etag in sorted(used_before):
            if counts.get(etag, 0) == 0 and etag in repo.blobs:
                size = self.bytes.get((repo.path, "blob", etag), 0)
                out.append(Deletion("blob", repo.blobs[etag].path, ref, size, etag=etag))
        return out


def _repo_busy(cache_dir: Path, repo: ScannedRepo) -> bool:
    with ExitStack() as stack:
        return not _repo_locks_free(cache_dir, repo.ref, stack)


def plan_budget(
    cache_dir: Path,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    pins: Iterable[Pin] = (),
    tiers: Iterable[str | os.PathLike[str]] = (),
    now: float | None = None,
    scan: CacheScan | None = None,
) -> BudgetPlan:
    """Plan evicting least-recently-used revisions (see the module docstring)."""
    if max_size is None and older_than is None:
        raise ValueError("plan_budget needs max_size or older_than")
    now = time.time() if now is None else now
    scan = scan or scan_cache(cache_dir, tiers=tiers)
    pinned = set(pins)
    plan = BudgetPlan(
        Path(cache_dir), size_before=scan.size, max_size=max_size, older_than=older_than
    )
    sim = _Simulation(scan)
    candidates: list[tuple[float, bool, ScannedRepo, ScannedRevision]] = []
    for repo in scan.repos:
        recorded = read_access(cache_dir, os.path.basename(repo.path))
        for rev in repo.revisions:
            if (repo.ref.repo_type, repo.ref.repo_id, rev.commit) in pinned:
                plan.kept.append((repo.display_id, rev.commit, "pinned by a lock file"))
                continue
            accessed = _last_access(rev, repo, recorded)
            candidates.append((accessed, rev.commit in recorded, repo, rev))
    candidates.sort(key=lambda c: (c[0], c[2].path, c[3].commit))
    busy: dict[str, bool] = {}
    for accessed, recorded_, repo, rev in candidates:
        if max_size is not None and scan.size - sim.freed <= max_size:
            break
        if older_than is not None and accessed > now - older_than:
            continue
        if repo.path not in busy:
            busy[repo.path] = _repo_busy(Path(cache_dir), repo)
        if busy[repo.path]:
            plan.kept.append((repo.display_id, rev.commit, "in use by a running download"))
            continue
        frees = sim.evict(repo, rev)
        plan.evictions.append(Eviction(repo.display_id, rev.commit, accessed, recorded_, frees))
    for repo in scan.repos:
        plan.items.extend(sim.items(repo))
    return plan


def execute_budget(plan: BudgetPlan) -> BudgetPlan:
    """Evict what the plan lists, repo by repo, holding every lock of the repo meanwhile."""
    by_repo: dict[str, list[Deletion]] = {}
    for item in plan.items:
        if item.repo is not None:
            by_repo.setdefault(str(item.repo), []).append(item)
    order = ["revision", "ref", "blob", "repo"]
    for items in by_repo.values():
        ref = items[0].repo
        assert ref is not None
        rc = RepoCache(plan.cache_dir, ref)
        with ExitStack() as stack:
            held: set[str] = set()
            if not _repo_locks_free(plan.cache_dir, ref, stack, held):
                plan.skipped.extend((d, "a download is running in this repo") for d in items)
                continue
            used: set[str] | None = None
            for item in sorted(items, key=lambda d: order.index(d.kind)):
                try:
                    if item.kind == "blob":
                        if used is None:
                            fresh = scan_repo(rc.path, ref)
                            used = fresh.referenced_etags() if fresh else set()
                        if item.etag in used:
                            plan.skipped.append((item, "a snapshot links to it again"))
                            continue
                        if item.etag in held:
                            os.unlink(item.path)  # its lock is in the stack already
                        else:
                            with rc.lock(item.etag or "", timeout=0):
                                os.unlink(item.path)
                    elif item.kind == "repo":
                        shutil.rmtree(item.path)
                        shutil.rmtree(access_dir(plan.cache_dir, rc.folder), ignore_errors=True)
                    else:
                        _remove(item.path)
                        if item.kind == "revision":
                            commit = os.path.basename(item.path)
                            with contextlib.suppress(OSError):
                                rc.tree_path(commit).unlink()
                            with contextlib.suppress(OSError):
                                shutil.rmtree(rc.path / ".no_exist" / commit)
                            forget_access(plan.cache_dir, rc.folder, commit)
                except TimeoutError:
                    plan.skipped.append((item, "locked by a running download"))
                    continue
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    plan.skipped.append((item, exc.strerror or str(exc)))
                    continue
                plan.done.append(item)
    return plan
