"""Cache deletion plans: rm of repos / revisions / files, prune, and hardlink dedup.

Every operation is planned first (a ``DeletionPlan`` that can be shown or dry-run), then executed
under the same blob locks downloads take (``<cache>/.locks/<repo folder>/<etag>.lock``): a blob is
deleted only while its lock is held and only if no remaining snapshot links to it (re-checked under
the lock), and whole repos are removed only when no lock of that repo is held by a running download.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.cache.layout import RepoCache
from hubcli.cache.scan import CacheScan, ScannedRepo, scan_cache, scan_repo
from hubcli.cache.verify import select_revisions
from hubcli.errors import NotFoundError, UsageError
from hubcli.hashing import is_content_id, verify_file
from hubcli.repo import RepoRef, parse_repo_ref


@dataclass(frozen=True)
class Deletion:
    """One thing to delete. ``size`` is the bytes it frees (0 when other links keep the data)."""

    kind: str  # repo | revision | ref | file | blob | incomplete | dangling | folder
    path: str
    repo: RepoRef | None = None
    size: int = 0
    etag: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "repo": str(self.repo) if self.repo else None,
            "bytes": self.size,
            "detail": self.detail,
        }


@dataclass
class DeletionPlan:
    cache_dir: Path
    items: list[Deletion] = field(default_factory=list)
    skipped: list[tuple[Deletion, str]] = field(default_factory=list)
    done: list[Deletion] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(d.size for d in self.items)

    @property
    def freed_done(self) -> int:
        return sum(d.size for d in self.done)

    def to_json(self, *, executed: bool) -> dict[str, Any]:
        return {
            "dry_run": not executed,
            "items": [d.to_json() for d in self.items],
            "bytes_freed": self.freed_done if executed else self.freed,
            "deleted": len(self.done) if executed else 0,
            "skipped": [{**d.to_json(), "reason": why} for d, why in self.skipped],
        }


def _blob_frees(repo: ScannedRepo, etag: str) -> int:
    blob = repo.blobs.get(etag)
    if blob is None or not blob.exists or blob.shared or blob.nlink > 1:
        return 0
    return blob.size


def _repo_frees(repo: ScannedRepo) -> int:
    total = sum(_blob_frees(repo, e) for e in repo.blobs)
    total += sum(s for _p, s, _m in repo.incomplete)
    for rev in repo.revisions:
        total += sum(f.size for f in rev.files if not f.is_link and f.exists)
    return total


class _RepoPlanner:
    """Collects what goes away in one repo and derives the blobs no remaining snapshot uses."""

    def __init__(self, repo: ScannedRepo) -> None:
        self.repo = repo
        self.commits: set[str] = set()
        self.files: set[tuple[str, str]] = set()

    def items(self) -> list[Deletion]:
        repo, ref = self.repo, self.repo.ref
        if self.commits >= {r.commit for r in repo.revisions} and repo.revisions:
            return [Deletion("repo", repo.path, ref, _repo_frees(repo), detail=repo.display_id)]
        out: list[Deletion] = []
        dropped: set[str] = set()
        kept: set[str] = set()
        for rev in repo.revisions:
            gone = rev.commit in self.commits
            if gone:
                copies = sum(f.size for f in rev.files if not f.is_link and f.exists)
                out.append(Deletion("revision", rev.path, ref, copies, detail=rev.commit))
            for f in rev.files:
                if gone or (rev.commit, f.path) in self.files:
                    if not gone:
                        size = 0 if f.is_link else f.size
                        out.append(Deletion("file", f.snapshot_path, ref, size, detail=f.path))
                    if f.etag:
                        dropped.add(f.etag)
                elif f.etag:
                    kept.add(f.etag)
        for name, commit in sorted(repo.refs.items()):
            if commit in self.commits:
                path = os.path.join(repo.path, "refs", *name.split("/"))
                out.append(Deletion("ref", path, ref, detail=name))
        for etag in sorted(dropped - kept):
            blob = repo.blobs.get(etag)
            if blob is not None:
                out.append(Deletion("blob", blob.path, ref, _blob_frees(repo, etag), etag=etag))
        return out


_CACHE_PATH_RE = re.compile(
    r"(?:^|/)(models|datasets|spaces)--([^/]+)(?:/snapshots/([0-9a-f]{40})(?:/(.+?))?)?/*$"
)


def parse_target(text: str, repo_type: str | None, *, endpoint: str | None = None) -> RepoRef:
    """What a cache command is given: any repo reference :func:`parse_repo_ref` reads (with
    ``org/x@rev/path`` splitting the path off, as in ``hf://``), or a path the cache commands
    print: a repo folder ``.../models--org--x`` or a snapshot ``.../snapshots/<commit>[/file]``."""
    raw = text.strip()
    folder = _CACHE_PATH_RE.search(raw) if "--" in raw else None
    if folder is not None:
        plural, name, commit, path = folder.groups()
        ref = parse_repo_ref(f"{plural}/{name.replace('--', '/')}", repo_type)
        return RepoRef(ref.repo_id, ref.repo_type, commit, path)
    return parse_repo_ref(raw, repo_type, endpoint=endpoint, with_path=True)


def plan_rm(
    cache_dir: Path,
    targets: Iterable[str],
    *,
    repo_type: str | None = None,
    endpoint: str | None = None,
    tiers: Iterable[str | os.PathLike[str]] = (),
) -> DeletionPlan:
    """Plan removing repos, revisions or files. Raises NotFoundError for anything not cached.
    A repo blob linking into a read-only tier (``tiers``) is removed as a link; the tier's file
    is never touched."""
    refs = [parse_target(t, repo_type, endpoint=endpoint) for t in targets]
    if not refs:
        raise UsageError("Name at least one repo, repo@revision or repo@revision/path.")
    scan = scan_cache(cache_dir, only=refs, tiers=tiers)
    planners: dict[str, _RepoPlanner] = {}
    for ref in refs:
        repo = scan.find(ref)
        if repo is None:
            raise NotFoundError(f"{ref} is not in the cache {cache_dir}.")
        planner = planners.setdefault(repo.path, _RepoPlanner(repo))
        if ref.revision is None and ref.path is None:
            planner.commits.update(r.commit for r in repo.revisions)
            if not repo.revisions:
                planner.commits.add("")
            continue
        for rev in select_revisions(repo, ref.revision or "main"):
            if ref.path is None:
                planner.commits.add(rev.commit)
                continue
            names = {f.path for f in rev.files}
            prefix = ref.path.rstrip("/") + "/"
            hits = {p for p in names if p == ref.path or p.startswith(prefix)}
            if not hits:
                raise NotFoundError(f"{ref.path} is not cached in {repo.display_id}@{rev.commit}.")
            planner.files.update((rev.commit, p) for p in hits)
    plan = DeletionPlan(Path(cache_dir))
    for planner in planners.values():
        if "" in planner.commits and not planner.repo.revisions:
            plan.items.append(Deletion("repo", planner.repo.path, planner.repo.ref))
        else:
            plan.items.extend(planner.items())
    return plan


def _has_files(top: str) -> bool:
    return any(
        files or any(os.path.islink(os.path.join(d, x)) for x in dirs)
        for d, dirs, files in os.walk(top)
    )


def _empty_dirs(top: str) -> Iterator[str]:
    """Folders below ``top`` that contain no files at all (deepest first)."""
    empty: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(top, topdown=False):
        subdirs = [os.path.join(dirpath, d) for d in dirnames]
        if filenames or any(os.path.islink(d) or d not in empty for d in subdirs):
            continue
        empty.add(dirpath)
        if dirpath != top:
            yield dirpath


def plan_prune(
    cache_dir: Path,
    *,
    scan: CacheScan | None = None,
    pins: Iterable[tuple[str, str, str]] = (),
    tiers: Iterable[str | os.PathLike[str]] = (),
) -> DeletionPlan:
    """Detached revisions, unreferenced blobs, stale ``.incomplete`` files, dangling links, and
    empty folders. A detached revision named in ``pins`` (type, id, commit: what a lock file
    pins) is kept. Locks are checked when executing, not here."""
    pinned = set(pins)
    scan = scan or scan_cache(cache_dir, tiers=tiers)
    plan = DeletionPlan(Path(cache_dir))
    for repo in scan.repos:
        if not repo.revisions and not _has_files(repo.path):
            plan.items.append(Deletion("folder", repo.path, repo.ref, detail="empty repo folder"))
            continue
        planner = _RepoPlanner(repo)
        kind, rid = repo.ref.repo_type, repo.ref.repo_id
        planner.commits = {
            r.commit for r in repo.revisions if not r.refs and (kind, rid, r.commit) not in pinned
        }
        items = planner.items()
        plan.items.extend(items)
        if items and items[0].kind == "repo":
            continue
        planned = {d.etag for d in items if d.kind == "blob"}
        for blob in repo.unreferenced_blobs():
            if blob.etag not in planned:
                size = _blob_frees(repo, blob.etag)
                plan.items.append(
                    Deletion("blob", blob.path, repo.ref, size, blob.etag, "unreferenced")
                )
        for path, size, _mtime in repo.incomplete:
            etag = os.path.basename(path).split(".", 1)[0]
            plan.items.append(Deletion("incomplete", path, repo.ref, size, etag))
        for rev in repo.revisions:
            if rev.commit in planner.commits:
                continue
            for f in rev.files:
                if not f.exists:
                    plan.items.append(
                        Deletion("dangling", f.snapshot_path, repo.ref, 0, detail=f.path)
                    )
            for folder in _empty_dirs(rev.path):
                plan.items.append(Deletion("folder", folder, repo.ref))
    known = {r.path for r in scan.repos}
    for entry in (
        sorted(os.scandir(cache_dir), key=lambda e: e.name) if os.path.isdir(cache_dir) else []
    ):
        from hubcli.cache.layout import parse_repo_folder

        ref = parse_repo_folder(entry.name)
        if ref is None or entry.path in known or not entry.is_dir(follow_symlinks=False):
            continue
        if not _has_files(entry.path):
            plan.items.append(Deletion("folder", entry.path, ref, detail="empty repo folder"))
    return plan


# -- execution --------------------------------------------------------------------------------
def _repo_locks_free(
    cache_dir: Path, ref: RepoRef, stack: ExitStack, held: set[str] | None = None
) -> bool:
    """Take every existing lock of the repo (non-blocking); False if a download holds one.
    ``held`` collects the etags whose lock is now in ``stack``."""
    rc = RepoCache(cache_dir, ref)
    lock_dir = rc.cache_dir / ".locks" / rc.folder
    try:
        names = [e.name for e in os.scandir(lock_dir) if e.name.endswith(".lock")]
    except OSError:
        return True
    for name in names:
        try:
            stack.enter_context(rc.lock(name[: -len(".lock")], timeout=0))
        except TimeoutError:
            return False
        if held is not None:
            held.add(name[: -len(".lock")])
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def execute_plan(plan: DeletionPlan) -> DeletionPlan:
    """Delete what the plan lists, under the download locks; fills ``done`` and ``skipped``."""
    order = ["file", "dangling", "revision", "ref", "blob", "incomplete", "folder", "repo"]
    items = sorted(plan.items, key=lambda d: (order.index(d.kind), -len(d.path)))
    rescanned: dict[str, set[str]] = {}
    for item in items:
        try:
            if item.kind in ("blob", "incomplete") and item.repo is not None and item.etag:
                rc = RepoCache(plan.cache_dir, item.repo)
                try:
                    with rc.lock(item.etag, timeout=0):
                        if item.kind == "blob":
                            used = rescanned.get(rc.folder)
                            if used is None:
                                fresh = scan_repo(rc.path, item.repo)
                                used = fresh.referenced_etags() if fresh else set()
                                rescanned[rc.folder] = used
                            if item.etag in used:
                                plan.skipped.append((item, "a snapshot links to it again"))
                                continue
                        os.unlink(item.path)
                except TimeoutError:
                    plan.skipped.append((item, "locked by a running download"))
                    continue
            elif item.kind == "folder" and Path(item.path).parent != plan.cache_dir:
                os.rmdir(item.path)  # only ever removes an empty folder
            elif item.kind in ("repo", "folder") and item.repo is not None:
                with ExitStack() as stack:
                    if not _repo_locks_free(plan.cache_dir, item.repo, stack):
                        plan.skipped.append((item, "a download is running in this repo"))
                        continue
                    if item.kind == "folder" and _has_files(item.path):
                        plan.skipped.append((item, "no longer empty"))
                        continue
                    _remove(item.path)
            else:
                _remove(item.path)
                if item.kind == "revision" and item.repo is not None:
                    rc = RepoCache(plan.cache_dir, item.repo)
                    commit = os.path.basename(item.path)
                    with contextlib.suppress(OSError):
                        rc.tree_path(commit).unlink()
                    with contextlib.suppress(OSError):
                        shutil.rmtree(rc.path / ".no_exist" / commit)
        except FileNotFoundError:
            pass
        except OSError as exc:
            plan.skipped.append((item, exc.strerror or str(exc)))
            continue
        plan.done.append(item)
    return plan


# -- dedup ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DedupLink:
    etag: str
    keep: str
    replace: str
    repo: RepoRef
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"etag": self.etag, "keep": self.keep, "replace": self.replace, "bytes": self.size}


@dataclass
class DedupPlan:
    links: list[DedupLink] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    done: list[DedupLink] = field(default_factory=list)

    @property
    def saved(self) -> int:
        return sum(link.size for link in self.links)

    def to_json(self, *, executed: bool) -> dict[str, Any]:
        return {
            "dry_run": not executed,
            "links": [link.to_json() for link in self.links],
            "bytes_saved": sum(lk.size for lk in self.done) if executed else self.saved,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def plan_dedup(cache_dir: Path, *, scan: CacheScan | None = None) -> DedupPlan:
    """Find identical blobs (same content-hash name, same size, verified by hashing) stored as
    separate inodes on the same device in different repos."""
    scan = scan or scan_cache(cache_dir)
    groups: dict[tuple[str, int], list[tuple[ScannedRepo, str]]] = {}
    for repo in scan.repos:
        for etag, blob in repo.blobs.items():
            if blob.exists and not blob.shared and is_content_id(etag):
                groups.setdefault((etag, blob.size), []).append((repo, etag))
    plan = DedupPlan()
    verified: dict[str, bool] = {}

    def good(path: str, etag: str) -> bool:
        if path not in verified:
            verified[path] = verify_file(path, etag)
            if not verified[path]:
                plan.skipped.append((path, "content does not match its name (run cache verify)"))
        return verified[path]

    for (etag, size), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        members.sort(key=lambda m: -m[0].blobs[etag].nlink)
        keep: str | None = None
        keep_key: tuple[int, int] = (0, 0)
        for repo, _e in members:
            blob = repo.blobs[etag]
            if keep is None:
                if good(blob.path, etag):
                    keep, keep_key = blob.path, blob.key
                continue
            if blob.key == keep_key or blob.key[0] != keep_key[0]:
                continue
            if good(blob.path, etag):
                saved = size if blob.nlink == 1 else 0
                plan.links.append(DedupLink(etag, keep, blob.path, repo.ref, saved))
    return plan


def execute_dedup(cache_dir: Path, plan: DedupPlan) -> DedupPlan:
    """Replace each duplicate by a hardlink to the kept blob, under the duplicate's blob lock."""
    for link in plan.links:
        rc = RepoCache(cache_dir, link.repo)
        tmp = f"{link.replace}.{os.urandom(4).hex()}.dedup"
        try:
            with rc.lock(link.etag, timeout=0):
                os.link(link.keep, tmp)
                os.replace(tmp, link.replace)
        except TimeoutError:
            plan.skipped.append((link.replace, "locked by a running download"))
            continue
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            plan.skipped.append((link.replace, exc.strerror or str(exc)))
            continue
        plan.done.append(link)
    return plan
