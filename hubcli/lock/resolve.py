"""Locking: resolve each input entry to a commit and record every selected file's hashes.

One ``revision_listing`` per repo gives the commit and each file's size, git blob id and (LFS)
sha256. The Hub has no sha256 for regular (non-LFS) files, so :func:`resolve_repo` downloads the
regular files of the selection into the cache (the download verifies them against their git
blob id) and hashes those verified blobs; LFS files are not downloaded by ``lock``: their kinds
come from a few KiB read with ``Range`` at the locked commit (:mod:`hubcli.lock.probe`). Repos
are resolved in parallel.

Pins are kept: an entry whose input did not change keeps its locked repo as is (no request);
one whose revision is unchanged but whose include/exclude/local-dir changed is re-selected at
its locked commit; ``upgrade`` (all) or ``upgrade_repos`` resolve the requested revision again.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import ProtocolError
from hubcli.globs import filter_paths
from hubcli.hashing import Sha256, sha256_file
from hubcli.lock.lockfile import LOCK_VERSION, LockedFile, LockedRepo, LockFile
from hubcli.lock.project import Project, RepoSpec
from hubcli.repo import RepoRef, display_id, is_commit_sha

if TYPE_CHECKING:
    from hubcli.hub import Hub
    from hubcli.models import FileEntry

MAX_PARALLEL_REPOS = 4


@dataclass(frozen=True)
class RepoChange:
    """What ``lock`` did to one repo: kept, added, updated (commit moved), reselected
    (same commit, new selection) or removed."""

    id: str
    type: str
    status: str
    old_commit: str | None
    new_commit: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.id,
            "repo_type": self.type,
            "status": self.status,
            "old_commit": self.old_commit,
            "new_commit": self.new_commit,
        }


@dataclass(frozen=True)
class LockResult:
    lock: LockFile
    changes: tuple[RepoChange, ...]
    downloaded: int = 0  # regular files fetched to hash them

    @property
    def changed(self) -> bool:
        return any(c.status != "kept" for c in self.changes)


def _same_selection(spec: RepoSpec, old: LockedRepo) -> bool:
    return (spec.include, spec.exclude, spec.local_dir) == (old.include, old.exclude, old.local_dir)


def _kinds(
    selected: Sequence[FileEntry],
    local: Mapping[str, Path],
    probed: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Each selected file's kinds (hubcli.lock.policy): pickle by content, from the verified
    blobs in the cache for the regular files and from ``probed`` (ranged reads) for LFS files,
    the extension only where neither is there; remote-code from ``auto_map`` in config.json /
    tokenizer_config.json."""
    import json

    from hubcli.lock.policy import REMOTE_CODE, classify_file, remote_code_files

    def read_text(path: str) -> str | None:
        blob = local.get(path)
        try:
            return blob.read_text(encoding="utf-8") if blob is not None else None
        except (OSError, UnicodeDecodeError):
            return None

    def read_json(path: str) -> dict[str, Any] | None:
        text = read_text(path)
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    probed = probed or {}
    out = {
        e.path: probed[e.path] if e.path in probed else classify_file(e.path, local.get(e.path))
        for e in selected
    }
    paths = frozenset(out)
    for path in remote_code_files(
        read_json("config.json"), read_json("tokenizer_config.json"), paths, read_text=read_text
    ):
        out[path] = tuple(sorted({*out[path], REMOTE_CODE}))
    return out


def _probe_lfs(
    hub: Hub, ref: RepoRef, commit: str, selected: Sequence[FileEntry]
) -> dict[str, tuple[str, ...]]:
    """The LFS files' kinds by content (a 4 KiB ranged read each, more for a zip); a file that
    cannot be read keeps its extension's kinds and gets a warning on stderr."""
    import sys

    from hubcli.lock.probe import probe_kinds

    lfs = [e for e in selected if e.is_lfs]
    if not lfs:
        return {}
    where = display_id(ref.repo_id, ref.repo_type)

    def fallback(path: str, reason: str) -> None:
        sys.stderr.write(
            f"warning: {where}: {path}: content not readable ({reason}); kind by extension.\n"
        )

    return probe_kinds(hub.session, ref, commit, lfs, on_fallback=fallback)


def resolve_repo(hub: Hub, spec: RepoSpec, revision: str | None = None) -> tuple[LockedRepo, int]:
    """Lock ``spec`` at ``revision`` (default: its requested revision); returns the locked repo
    and how many regular files had to be downloaded to hash them."""
    from hubcli.cache.layout import RepoCache

    ref = RepoRef(spec.id, spec.type)
    listing = hub.client.revision_listing(ref, revision or spec.revision)
    selected = filter_paths(
        listing.entries, include=spec.include, exclude=spec.exclude, key=lambda e: e.path
    )
    regular = [e for e in selected if not e.is_lfs]
    fetched = 0
    if regular:
        result = hub.download(
            RepoRef(spec.id, spec.type, revision=listing.commit), [e.path for e in regular]
        )
        fetched = result.count("downloaded")
    cache = RepoCache(hub.settings.cache_dir, ref)
    local = {e.path: cache.blob_path(e.blob_id) for e in regular if e.blob_id is not None}
    kinds = _kinds(selected, local, _probe_lfs(hub, ref, listing.commit, selected))
    files = []
    for entry in selected:
        where = f"{display_id(spec.id, spec.type)}@{listing.commit}: {entry.path}"
        if entry.blob_id is None:
            raise ProtocolError(f"{where}: the listing gives no git blob id.")
        if entry.lfs_sha256 is not None:
            sha256 = entry.lfs_sha256
        else:
            # the download verified this blob against its git blob id: hash the same bytes
            sha256 = Sha256(sha256_file(cache.blob_path(entry.blob_id)))
        lfs = entry.lfs_sha256 is not None
        files.append(
            LockedFile(
                entry.path, entry.size, sha256, entry.blob_id, lfs, kinds.get(entry.path, ())
            )
        )
    locked = LockedRepo(
        id=spec.id,
        type=spec.type,
        requested=spec.revision,
        commit=listing.commit,
        include=spec.include,
        exclude=spec.exclude,
        local_dir=spec.local_dir,
        files=tuple(sorted(files, key=lambda f: f.path)),
    )
    return locked, fetched


def lock_project(
    hub: Hub,
    project: Project,
    previous: LockFile | None = None,
    *,
    upgrade: bool = False,
    upgrade_repos: Collection[tuple[str, str]] = (),
    max_parallel: int = MAX_PARALLEL_REPOS,
) -> LockResult:
    """The lock for ``project``: kept pins where the input allows, new resolutions elsewhere.

    ``upgrade_repos`` holds (type, id) keys. Raises the Hub's errors (NotFoundError for a repo or
    revision that does not exist, AuthError, NetworkError, IntegrityError on a bad download)."""
    kept: dict[tuple[str, str], LockedRepo] = {}
    todo: list[tuple[RepoSpec, str, LockedRepo | None]] = []
    for spec in project.repos:
        old = previous.repo(spec.id, spec.type) if previous else None
        moving = upgrade or spec.key in upgrade_repos
        if old is not None and not moving and old.requested == spec.revision:
            if _same_selection(spec, old):
                kept[spec.key] = old
            else:
                todo.append((spec, old.commit, old))
        else:
            todo.append((spec, spec.revision, old))

    resolved: dict[tuple[str, str], LockedRepo] = {}
    fetched = 0
    if todo:
        workers = max(1, min(max_parallel, len(todo)))
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="lock") as pool:
            futures = {
                pool.submit(resolve_repo, hub, spec, revision): spec for spec, revision, _ in todo
            }
            try:
                for future in concurrent.futures.as_completed(futures):
                    repo, n = future.result()
                    resolved[futures[future].key] = repo
                    fetched += n
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    changes = [RepoChange(*key[::-1], "kept", r.commit, r.commit) for key, r in kept.items()]
    for spec, _, old in todo:
        new = resolved[spec.key]
        if old is None:
            status = "added"
        elif old.commit != new.commit:
            status = "updated"
        elif old == new:
            status = "kept"
        else:
            status = "reselected"
        changes.append(
            RepoChange(spec.id, spec.type, status, old.commit if old else None, new.commit)
        )
    current = {spec.key for spec in project.repos}
    for old in previous.repos if previous else ():
        if old.key not in current:
            changes.append(RepoChange(old.id, old.type, "removed", old.commit, None))
    repos = tuple(sorted([*kept.values(), *resolved.values()], key=lambda r: r.key))
    lock = LockFile(LOCK_VERSION, project.input_hash, repos)
    return LockResult(lock, tuple(sorted(changes, key=lambda c: (c.type, c.id))), fetched)


@dataclass(frozen=True)
class Outdated:
    id: str
    type: str
    requested: str
    locked: str
    latest: str

    @property
    def behind(self) -> bool:
        return self.locked != self.latest

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.id,
            "repo_type": self.type,
            "requested": self.requested,
            "locked": self.locked,
            "latest": self.latest,
            "outdated": self.behind,
        }


def outdated(hub: Hub, lock: LockFile, *, max_parallel: int = MAX_PARALLEL_REPOS) -> list[Outdated]:
    """Each locked repo with the commit its requested revision points at now (one listing per
    repo whose request is a branch or tag; a commit-sha request is never behind)."""

    def check(repo: LockedRepo) -> Outdated:
        if is_commit_sha(repo.requested):
            latest = repo.requested
        else:
            listing = hub.client.revision_listing(RepoRef(repo.id, repo.type), repo.requested)
            latest = listing.commit
        return Outdated(repo.id, repo.type, repo.requested, repo.commit, latest)

    repos: Sequence[LockedRepo] = lock.repos
    if not repos:
        return []
    workers = max(1, min(max_parallel, len(repos)))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="outdated") as pool:
        return list(pool.map(check, repos))
