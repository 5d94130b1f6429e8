"""Cache integrity: verify blobs against their etags and snapshot links.

``verify_cache`` re-hashes each blob once (sha256 for 64-hex etags, git blob sha1 for 40-hex
etags): small blobs in the calling thread, one open and one read each into a reused buffer (a
pool costs more per tiny file than the hash does), large ones in a pool sized by their bytes. It
checks every snapshot link, compares with ``trees/<commit>.json`` when present and, online, with
the Hub's tree (through a client it is handed). Repair (a download of chosen blobs) lives in
``download/repair``; deletion (rm, prune, dedup) in ``cache/clean``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from hubcli.cache.layout import RepoCache
from hubcli.cache.scan import ScannedRepo, ScannedRevision, scan_cache
from hubcli.errors import NotFoundError, UsageError
from hubcli.globs import wanted
from hubcli.hashing import file_digest, is_content_id
from hubcli.repo import RepoRef, display_id, is_commit_sha

if TYPE_CHECKING:
    from hubcli.client import HubClient

FAILING_KINDS = ("corrupt", "missing", "mismatch", "extra", "bad_link", "modified")


@dataclass(frozen=True)
class FileProblem:
    """One finding. Failing kinds: corrupt, missing, mismatch, extra, bad_link (an entry that
    breaks the link rule of :mod:`hubcli.cache.links`, e.g. a link out of the cache);
    ``not_downloaded`` and ``unverifiable`` are informational."""

    repo: str
    repo_type: str
    commit: str
    path: str
    kind: str
    etag: str | None
    detail: str
    tier: str | None = None  # the read-only tier holding the blob, when one does

    @property
    def failing(self) -> bool:
        return self.kind in FAILING_KINDS

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo,
            "repo_type": self.repo_type,
            "commit": self.commit,
            "path": self.path,
            "kind": self.kind,
            "etag": self.etag,
            "detail": self.detail,
            "tier": self.tier,
        }


@dataclass
class VerifyReport:
    repos: int = 0
    revisions: int = 0
    files: int = 0
    blobs_hashed: int = 0
    bytes_hashed: int = 0
    problems: list[FileProblem] = field(default_factory=list)
    # per read-only tier: the blobs of it this run reached and hashed, and their bytes
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def failures(self) -> list[FileProblem]:
        return [p for p in self.problems if p.failing]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "repos": self.repos,
            "revisions": self.revisions,
            "files": self.files,
            "blobs_hashed": self.blobs_hashed,
            "bytes_hashed": self.bytes_hashed,
            "problems": [p.to_json() for p in self.problems],
            "tiers": [{"tier": t, **v} for t, v in sorted(self.tiers.items())],
        }


def select_repos(
    cache_dir: Path, refs: Iterable[RepoRef] | None, tiers: Sequence[str | Path] = ()
) -> list[ScannedRepo]:
    """Scan the named repos (all when ``refs`` is None); raise NotFoundError for one not cached.
    ``tiers``: read-only tiers repo blobs may link into."""
    wanted = list(refs) if refs is not None else None
    scan = scan_cache(cache_dir, only=wanted, tiers=tiers)
    if wanted:
        for ref in wanted:
            if scan.find(ref) is None:
                raise NotFoundError(f"{ref} is not in the cache {cache_dir}.")
    return scan.repos


def _selected(
    cache_dir: Path,
    refs: Iterable[RepoRef] | None,
    revision: str | None,
    tiers: Sequence[str | Path] = (),
) -> list[tuple[ScannedRepo, ScannedRevision, str | None]]:
    """(repo, revision, path prefix) for each named target (a ref's own ``@rev`` and ``/path``
    win over ``revision``), each revision once; every revision of every repo when ``refs`` is
    None."""
    wanted_refs = list(refs) if refs is not None else None
    repos = select_repos(cache_dir, wanted_refs, tiers)
    if wanted_refs is None:
        return [(repo, rev, None) for repo in repos for rev in select_revisions(repo, revision)]
    by_key = {(r.ref.repo_type, r.ref.repo_id): r for r in repos}
    out: dict[tuple[str, str, str | None], tuple[ScannedRepo, ScannedRevision, str | None]] = {}
    for ref in wanted_refs:
        repo = by_key[(ref.repo_type, ref.repo_id)]
        for rev in select_revisions(repo, ref.revision or revision):
            out.setdefault((repo.path, rev.commit, ref.path), (repo, rev, ref.path))
    return list(out.values())


def _in_path(path: str, prefix: str | None) -> bool:
    if prefix is None:
        return True
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def select_revisions(repo: ScannedRepo, revision: str | None) -> list[ScannedRevision]:
    """All revisions, or the one a ref name / commit / unique commit prefix names."""
    if revision is None:
        return list(repo.revisions)
    commit = repo.refs.get(revision, revision)
    exact = repo.revision(commit)
    if exact is not None:
        return [exact]
    matches = [r for r in repo.revisions if len(revision) >= 4 and r.commit.startswith(revision)]
    if len(matches) == 1:
        return matches
    if len(matches) > 1:
        raise UsageError(f"Revision {revision!r} is ambiguous in {repo.display_id}.")
    raise NotFoundError(f"Revision {revision!r} of {repo.display_id} is not in the cache.")


def problem_id(p: FileProblem) -> str:
    """How a problem's revision is printed: ``org/x@<commit>`` (what cache commands accept)."""
    if p.repo_type == "local":
        return p.repo
    return f"{display_id(p.repo, p.repo_type)}@{p.commit}"


def _expected_from_tree(repo: ScannedRepo, commit: str) -> dict[str, str] | None:
    """path -> content hash from ``trees/<commit>.json``. A tree is local data: a name that is
    not a content hash counts as no entry, but the caller checks that (:func:`is_content_id`) only
    where it is used, which is once per file in the common case."""
    if not is_commit_sha(commit):
        return None
    files = RepoCache(Path(repo.path).parent, repo.ref).read_tree(commit)
    if files is None:
        return None
    out: dict[str, str] = {}
    for path, info in files.items():
        if isinstance(info, dict):
            etag = info.get("lfs_sha256") or info.get("blob_id")
            if isinstance(etag, str):
                out[path] = etag
    return out


def _nothing(_key: str) -> None:
    return None


SMALL_BLOB = 1 << 20
"""Blobs below this are read in one go and hashed in the calling thread: a thread pool costs
more per tiny file (a future, a lock, a context switch) than hashing it does."""
POOL_BYTES_PER_WORKER = 64 << 20
"""One pool thread per this many bytes of large blobs (at most ``workers``)."""

_readv: Callable[[int, list[memoryview]], int] | None = getattr(os, "readv", None)  # not Windows
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)

Record: TypeAlias = Callable[[str, str, str | None, int], None]


def _read_small(fd: int, size: int, view: memoryview) -> int:
    """Read the file behind ``fd`` (``size`` bytes when scanned) into ``view``; the count read.
    ``size + 1`` bytes are asked for, so a file that grew since reads as too long."""
    n = 0
    while True:
        if _readv is not None:
            got = _readv(fd, [view[n : size + 1]])
        else:
            data = os.read(fd, size + 1 - n)
            got = len(data)
            view[n : n + got] = data
        n += got
        if got == 0 or n >= size:
            return n


def _digest_small(blob_path: str, etag: str, size: int, view: memoryview) -> tuple[str | None, int]:
    """(digest in the flavour ``etag`` promises, size) of a blob of ``size`` bytes (as scanned,
    ``size < len(view)``) read whole into ``view``: one open, one read, no stat. A blob whose
    size changed since the scan is hashed as it is now, streamed. Raises OSError if unreadable,
    ValueError if it changed size while read."""
    fd = os.open(blob_path, _O_READ)
    try:
        n = _read_small(fd, size, view)
    finally:
        os.close(fd)
    if n != size:
        return _digest_large(blob_path, etag)
    data = view[:n]
    if len(etag) == 64:
        return hashlib.sha256(data).hexdigest(), size
    h = hashlib.sha1(b"blob %d\0" % size)
    h.update(data)
    return h.hexdigest(), size


def _digest_large(blob_path: str, etag: str) -> tuple[str | None, int]:
    size = os.stat(blob_path).st_size
    return file_digest(blob_path, etag), size


def _hash_blobs(to_hash: dict[str, tuple[str, int]], workers: int, record: Record) -> None:
    """Hash each blob (path -> (content-id etag, size the scan saw)) and ``record`` its digest
    (None when unreadable or changed while read) in this thread. Large blobs go to a pool sized
    by their total bytes, started first so it hashes while this thread does the small ones."""
    small: list[tuple[str, str, int]] = []
    large: list[tuple[str, str]] = []
    large_bytes = 0
    for blob_path, (etag, size) in to_hash.items():
        if size < SMALL_BLOB:
            small.append((blob_path, etag, size))
        else:
            large.append((blob_path, etag))
            large_bytes += size
    pool = None
    futures = []
    if large:
        from concurrent.futures import ThreadPoolExecutor

        n = min(max(1, workers), len(large), max(1, -(-large_bytes // POOL_BYTES_PER_WORKER)))
        pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="hubcli-verify")
        futures = [(p, e, pool.submit(_digest_large, p, e)) for p, e in large]
    try:
        view = memoryview(bytearray(SMALL_BLOB + 1))
        for blob_path, etag, scanned in small:
            try:
                digest, size = _digest_small(blob_path, etag, scanned, view)
            except (OSError, ValueError):  # unreadable, or changed while hashed
                digest, size = None, 0
            record(blob_path, etag, digest, size)
        for blob_path, etag, future in futures:
            try:
                digest, size = future.result()
            except (OSError, ValueError):
                digest, size = None, 0
            record(blob_path, etag, digest, size)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def verify_cache(
    cache_dir: Path,
    *,
    repos: Iterable[RepoRef] | None = None,
    revision: str | None = None,
    client: HubClient | None = None,
    workers: int = 8,
    on_progress: Callable[[int], None] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    tiers: Sequence[str | Path] = (),
) -> VerifyReport:
    """Verify the named repos (or the whole cache). ``client`` enables the online comparison;
    ``include``/``exclude`` globs (:mod:`hubcli.globs`) limit the files checked and reported;
    ``tiers`` are the read-only tiers repo blobs may link into (their blobs are hashed too).

    Raises NotFoundError for a named repo or revision that is not cached; everything found on disk
    is reported in the returned VerifyReport, never raised.
    """
    report = VerifyReport()
    problems = report.problems
    to_hash: dict[str, tuple[str, int]] = {}  # blob path -> (etag, size seen by the scan)
    users: list[tuple[str, ScannedRepo, str, str]] = []  # (blob path, repo, commit, path)
    seen_repos: set[str] = set()
    filtering = bool(include or exclude)
    tier_of: dict[str, str] = {}  # blob path -> the tier its bytes are in
    for repo, rev, prefix in _selected(cache_dir, repos, revision, tiers):
        if repo.path not in seen_repos:
            seen_repos.add(repo.path)
            report.repos += 1
        rtype, rid = repo.ref.repo_type, repo.ref.repo_id
        commit = rev.commit

        def add(
            path: str,
            kind: str,
            etag: str | None,
            detail: str,
            rid: str = rid,
            rtype: str = rtype,
            commit: str = commit,
        ) -> None:
            problems.append(FileProblem(rid, rtype, commit, path, kind, etag, detail))

        def selected(path: str, prefix: str | None = prefix) -> bool:
            return _in_path(path, prefix) and wanted(path, include, exclude)

        report.revisions += 1
        expected = _expected_from_tree(repo, commit)
        remote: dict[str, str] | None = None
        if client is not None:
            remote = {
                e.path: e.etag
                for e in client.list_tree(repo.ref, revision=commit, recursive=True)
                if hasattr(e, "etag")
            }
        remote_get = remote.get if remote is not None else _nothing
        tree_get = expected.get if expected is not None else _nothing
        check_path = filtering or prefix is not None
        local_paths = set()
        for f in rev.files:
            path = f.path
            if check_path and not selected(path):
                continue
            report.files += 1
            local_paths.add(path)
            want = remote_get(path)
            if not want:
                want = tree_get(path)
                # a tree names content hashes only; the common case, the same name as the
                # link's blob, is checked once below (as ``etag``)
                if (
                    want is not None
                    and (want != f.etag or f.problem is not None)
                    and not is_content_id(want)
                ):
                    want = None
            if f.problem is not None:
                add(path, "bad_link", want, f.problem)
                continue
            if not f.exists:
                gone = "the snapshot link points at a blob that is not there"
                add(path, "missing", want or f.etag, gone)
                continue
            if remote is not None and path not in remote:
                add(path, "extra", f.etag, "the Hub has no such file at this commit")
            etag = f.etag if f.is_link else want
            if f.is_link and want and f.etag != want:
                add(path, "mismatch", want, f"linked to blob {f.etag}, expected {want}")
                continue
            if not etag or not is_content_id(etag):
                add(path, "unverifiable", etag, "no content hash known for this file")
                continue
            to_hash[f.blob_path] = (etag, f.size)
            users.append((f.blob_path, repo, commit, path))
            blob = repo.blobs.get(f.etag) if f.etag is not None else None
            if blob is not None and blob.tier is not None:
                tier_of[f.blob_path] = blob.tier
        reference = remote if remote is not None else expected
        for path in sorted(p for p in (reference or {}).keys() - local_paths if selected(p)):
            listed = (reference or {})[path]
            if reference is expected and not is_content_id(listed):
                continue  # not a content hash: no entry
            add(path, "not_downloaded", listed, "listed for this commit, not cached")

    failed: dict[str, tuple[str, str]] = {}  # blob path -> (etag, detail)

    def record(blob_path: str, etag: str, digest: str | None, size: int) -> None:
        report.blobs_hashed += 1
        report.bytes_hashed += size
        tier = tier_of.get(blob_path)
        if tier is not None:
            counts = report.tiers.setdefault(tier, {"blobs": 0, "bytes": 0})
            counts["blobs"] += 1
            counts["bytes"] += size
        if on_progress is not None:
            on_progress(report.blobs_hashed)
        if digest != etag:
            detail = "cannot read the blob" if digest is None else f"content hashes to {digest}"
            failed[blob_path] = (etag, detail)

    _hash_blobs(to_hash, workers, record)
    if failed:
        for blob_path, repo, commit, path in users:
            if blob_path in failed:
                etag, detail = failed[blob_path]
                problems.append(
                    FileProblem(
                        repo.ref.repo_id, repo.ref.repo_type, commit, path, "corrupt", etag,
                        detail, tier=tier_of.get(blob_path),
                    )
                )  # fmt: skip
    report.problems.sort(key=lambda p: (p.repo_type, p.repo, p.commit, p.path, p.kind))
    return report
