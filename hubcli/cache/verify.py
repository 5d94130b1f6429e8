"""Cache integrity: verify blobs against their etags and snapshot links.

``verify_cache`` re-hashes each blob once (sha256 for 64-hex etags, git blob sha1 for 40-hex
etags) in parallel threads, checks every snapshot link, compares with ``trees/<commit>.json`` when
present and, online, with the Hub's tree (through a client it is handed). Repair (a download of
chosen blobs) lives in ``download/repair``; deletion (rm, prune, dedup) in ``cache/clean``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
        }


@dataclass
class VerifyReport:
    repos: int = 0
    revisions: int = 0
    files: int = 0
    blobs_hashed: int = 0
    bytes_hashed: int = 0
    problems: list[FileProblem] = field(default_factory=list)

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
        }


def select_repos(cache_dir: Path, refs: Iterable[RepoRef] | None) -> list[ScannedRepo]:
    """Scan the named repos (all when ``refs`` is None); raise NotFoundError for one not cached."""
    wanted = list(refs) if refs is not None else None
    scan = scan_cache(cache_dir, only=wanted)
    if wanted:
        for ref in wanted:
            if scan.find(ref) is None:
                raise NotFoundError(f"{ref} is not in the cache {cache_dir}.")
    return scan.repos


def _selected(
    cache_dir: Path, refs: Iterable[RepoRef] | None, revision: str | None
) -> list[tuple[ScannedRepo, ScannedRevision, str | None]]:
    """(repo, revision, path prefix) for each named target (a ref's own ``@rev`` and ``/path``
    win over ``revision``), each revision once; every revision of every repo when ``refs`` is
    None."""
    wanted_refs = list(refs) if refs is not None else None
    repos = select_repos(cache_dir, wanted_refs)
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
    """path -> content hash from ``trees/<commit>.json``; entries without a valid hash are left
    out (a tree is local data: it never names a blob that is not a content hash)."""
    if not is_commit_sha(commit):
        return None
    files = RepoCache(Path(repo.path).parent, repo.ref).read_tree(commit)
    if files is None:
        return None
    out: dict[str, str] = {}
    for path, info in files.items():
        if isinstance(info, dict):
            etag = info.get("lfs_sha256") or info.get("blob_id")
            if isinstance(etag, str) and is_content_id(etag):
                out[path] = etag
    return out


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
) -> VerifyReport:
    """Verify the named repos (or the whole cache). ``client`` enables the online comparison;
    ``include``/``exclude`` globs (:mod:`hubcli.globs`) limit the files checked and reported.

    Raises NotFoundError for a named repo or revision that is not cached; everything found on disk
    is reported in the returned VerifyReport, never raised.
    """
    report = VerifyReport()
    to_hash: dict[str, tuple[str, str]] = {}  # blob path -> (etag, size key)
    users: dict[str, list[tuple[ScannedRepo, str, str]]] = {}
    seen_repos: set[str] = set()
    for repo, rev, prefix in _selected(cache_dir, repos, revision):
        if repo.path not in seen_repos:
            seen_repos.add(repo.path)
            report.repos += 1
        rtype, rid = repo.ref.repo_type, repo.ref.repo_id

        def selected(path: str, prefix: str | None = prefix) -> bool:
            return _in_path(path, prefix) and wanted(path, include, exclude)

        report.revisions += 1
        expected = _expected_from_tree(repo, rev.commit)
        remote: dict[str, str] | None = None
        if client is not None:
            remote = {
                e.path: e.etag
                for e in client.list_tree(repo.ref, revision=rev.commit, recursive=True)
                if hasattr(e, "etag")
            }
        local_paths = set()
        for f in rev.files:
            if not selected(f.path):
                continue
            report.files += 1
            local_paths.add(f.path)
            want = (remote or {}).get(f.path) or (expected or {}).get(f.path)
            if f.problem is not None:
                report.problems.append(
                    FileProblem(rid, rtype, rev.commit, f.path, "bad_link", want, f.problem)
                )
                continue
            if not f.exists:
                report.problems.append(
                    FileProblem(
                        rid,
                        rtype,
                        rev.commit,
                        f.path,
                        "missing",
                        want or f.etag,
                        "the snapshot link points at a blob that is not there",
                    )
                )
                continue
            if remote is not None and f.path not in remote:
                report.problems.append(
                    FileProblem(
                        rid,
                        rtype,
                        rev.commit,
                        f.path,
                        "extra",
                        f.etag,
                        "the Hub has no such file at this commit",
                    )
                )
            etag = f.etag if f.is_link else want
            if f.is_link and want and f.etag != want:
                report.problems.append(
                    FileProblem(
                        rid,
                        rtype,
                        rev.commit,
                        f.path,
                        "mismatch",
                        want,
                        f"linked to blob {f.etag}, expected {want}",
                    )
                )
                continue
            if not etag or not is_content_id(etag):
                report.problems.append(
                    FileProblem(
                        rid,
                        rtype,
                        rev.commit,
                        f.path,
                        "unverifiable",
                        etag,
                        "no content hash known for this file",
                    )
                )
                continue
            to_hash[f.blob_path] = (etag, f.path)
            users.setdefault(f.blob_path, []).append((repo, rev.commit, f.path))
        reference = remote if remote is not None else expected
        for path in sorted(p for p in set(reference or ()) - local_paths if selected(p)):
            report.problems.append(
                FileProblem(
                    rid,
                    rtype,
                    rev.commit,
                    path,
                    "not_downloaded",
                    (reference or {}).get(path),
                    "listed for this commit, not cached",
                )
            )

    def work(item: tuple[str, tuple[str, str]]) -> tuple[str, str, str | None, int]:
        blob_path, (etag, _p) = item
        try:
            size = os.stat(blob_path).st_size
            return blob_path, etag, file_digest(blob_path, etag), size
        except (OSError, ValueError):  # unreadable, or changed while hashed
            return blob_path, etag, None, 0

    done = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for blob_path, etag, digest, size in pool.map(work, to_hash.items()):
            report.blobs_hashed += 1
            report.bytes_hashed += size
            done += 1
            if on_progress is not None:
                on_progress(done)
            if digest == etag:
                continue
            detail = "cannot read the blob" if digest is None else f"content hashes to {digest}"
            for repo, commit, path in users[blob_path]:
                report.problems.append(
                    FileProblem(
                        repo.ref.repo_id, repo.ref.repo_type, commit, path, "corrupt", etag, detail
                    )
                )
    report.problems.sort(key=lambda p: (p.repo_type, p.repo, p.commit, p.path, p.kind))
    return report
