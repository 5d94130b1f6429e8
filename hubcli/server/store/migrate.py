"""Copy one hub store into another (``file://`` <-> ``s3://``), verifying every object;
idempotent and resumable; refs last (docs/storage.md, "Migration").

Order, per repo: the repo document (its metadata with the same ``_id``, no refs yet), then for
each stored commit its blobs (LFS objects streamed through ``receive_lfs``, which hashes them and
stores them only when the sha256 matches; regular files re-hashed to their git sha1), then the
commit manifest (read back from the destination and compared), and only at the end the refs and
the final metadata. A run that stops anywhere leaves the destination's refs where they were
(nothing half-copied is reachable), and the next run skips what is already there: a commit in
the destination is there only after all its blobs, so its blobs are not looked at again.

Not copied: open upload sessions and upload grants (a client whose upload was in flight sends
it again), and a destination repo whose ``_id`` differs from the source's is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubcli.server.ids import REPO_TYPES, StorageError, git_blob_sha1
from hubcli.server.records import Entry, Repo
from hubcli.server.store.base import RepoStore

REF_KINDS = ("heads", "tags", "prs")


@dataclass
class MigrateStats:
    repos: int = 0
    commits: int = 0
    commits_skipped: int = 0
    blobs: int = 0
    blobs_skipped: int = 0
    bytes: int = 0
    refs: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _copy_blob(src: RepoStore, dst: RepoStore, e: Entry, stats: MigrateStats) -> None:
    if dst.blob_size(e) == e.size:
        stats.blobs_skipped += 1
        return
    if e.sha256:  # hashed as it streams in; visible only when it matches
        dst.receive_lfs(e.sha256, e.size, src.open_blob(e, 0, e.size))
    else:
        data = src.read_blob(e)
        if len(data) != e.size or git_blob_sha1(data) != e.oid:
            raise StorageError(500, f"source blob {e.oid} does not match its git sha1")
        dst.put_regular(data)
    if dst.blob_size(e) != e.size:
        raise StorageError(500, f"blob {e.sha256 or e.oid} did not arrive in the destination")
    stats.blobs += 1
    stats.bytes += e.size


def migrate_repo(
    src: RepoStore, dst: RepoStore, repo: Repo, stats: MigrateStats, seen: set[str]
) -> None:
    from hubcli.server.storage import commit_body

    meta = dict(repo.meta)
    have = dst.get_repo(repo.type, repo.id)
    if have is None:
        have = dst.create_repo(repo.type, repo.id, meta)
    elif have.meta.get("_id") != meta.get("_id"):
        raise StorageError(409, f"{repo.type} {repo.id}: a different repo has that name there")
    done = set(dst.commit_ids(have))
    for sha in src.commit_ids(repo):
        if sha in done:
            stats.commits_skipped += 1
            continue
        c = src.get_commit(repo, sha)
        if c is None or c.id != sha:
            raise StorageError(500, f"{repo.id}: commit {sha} is unreadable in the source")
        for e in c.tree.values():
            key = e.sha256 or e.oid
            if key not in seen:
                _copy_blob(src, dst, e, stats)
                seen.add(key)
        body = commit_body(c)
        dst.import_commit(have, body)
        back = dst.get_commit(have, sha)
        if back is None or commit_body(back) != body:
            raise StorageError(500, f"{repo.id}: commit {sha} did not arrive intact")
        stats.commits += 1
    # refs last: only now does the destination name what was copied
    for kind in REF_KINDS:
        want = dict(repo.refs.get(kind, {}))
        for name, sha in want.items():
            if have.refs.get(kind, {}).get(name) != sha:
                dst.set_ref(have, kind, name, sha)
                stats.refs += 1
        for name in list(have.refs.get(kind, {})):
            if name not in want:
                dst.set_ref(have, kind, name, None)
    if have.meta != meta:
        have.meta = meta
        dst.save_meta(have)
    stats.repos += 1


def migrate(
    src: RepoStore, dst: RepoStore, *, progress: Callable[[str], None] | None = None
) -> MigrateStats:
    """Copy every repo of ``src`` into ``dst`` (see the module docstring)."""
    stats = MigrateStats()
    seen: set[str] = set()
    for repo_type in REPO_TYPES:
        for repo in sorted(src.list_repos(repo_type), key=lambda r: r.id):
            if progress:
                progress(f"{repo_type} {repo.id}")
            migrate_repo(src, dst, repo, stats, seen)
    return stats
