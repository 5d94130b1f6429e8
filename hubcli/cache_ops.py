"""Cache integrity: verify blobs against their etags and snapshot links, and repair what is broken.

``verify_cache`` re-hashes each blob once (sha256 for 64-hex etags, git blob sha1 for 40-hex
etags) in parallel threads, checks every snapshot link, compares with ``trees/<commit>.json`` when
present and, online, with the Hub's tree. ``repair_cache`` re-fetches exactly the corrupt or
missing blobs. Deletion (rm, prune, dedup) lives in ``cache_clean``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.cache import RepoCache
from hubcli.cache_links import LinkRoots, blob_dir_problem, check_blob
from hubcli.cache_scan import ScannedRepo, ScannedRevision, scan_cache
from hubcli.errors import HubError, NotFoundError, UsageError
from hubcli.hashing import file_digest, is_content_id, verify_file
from hubcli.repo import RepoRef, is_commit_sha

if TYPE_CHECKING:
    from hubcli.client import HubClient
    from hubcli.http import HubSession
    from hubcli.transfer import Transfer

FAILING_KINDS = ("corrupt", "missing", "mismatch", "extra", "bad_link")


@dataclass(frozen=True)
class FileProblem:
    """One finding. Failing kinds: corrupt, missing, mismatch, extra, bad_link (an entry that
    breaks the link rule of :mod:`hubcli.cache_links`, e.g. a link out of the cache);
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
                raise NotFoundError(
                    f"{ref.repo_type}/{ref.repo_id} is not in the cache {cache_dir}."
                )
    return scan.repos


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
) -> VerifyReport:
    """Verify the named repos (or the whole cache). ``client`` enables the online comparison.

    Raises NotFoundError for a named repo or revision that is not cached; everything found on disk
    is reported in the returned VerifyReport, never raised.
    """
    report = VerifyReport()
    to_hash: dict[str, tuple[str, str]] = {}  # blob path -> (etag, size key)
    users: dict[str, list[tuple[ScannedRepo, str, str]]] = {}
    for repo in select_repos(cache_dir, repos):
        report.repos += 1
        rtype, rid = repo.ref.repo_type, repo.ref.repo_id
        for rev in select_revisions(repo, revision):
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
            for path in sorted(set(reference or ()) - local_paths):
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


# -- repair -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepairResult:
    repaired: list[FileProblem]
    failed: list[tuple[FileProblem, str]]
    bytes_fetched: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "repaired": [p.to_json() for p in self.repaired],
            "failed": [{**p.to_json(), "error": err} for p, err in self.failed],
            "bytes_fetched": self.bytes_fetched,
        }


def fetch_blob(
    session: HubSession,
    rc: RepoCache,
    *,
    commit: str,
    path: str,
    etag: str,
    size: int,
    transfer: Transfer | None = None,
    unique: bool | None = None,
) -> int:
    """Download ``path`` at ``commit`` into ``blobs/<etag>``, verified and atomically placed.

    The download engine's :class:`~hubcli.transfer.Transfer` does the work (resume from a
    partial ``<etag>.incomplete``, parallel ranges for big files, mirror failover, the token only
    to the Hub), through the blob placement downloads use (:class:`~hubcli.transfer.BlobSlot`:
    the blob lock huggingface_hub uses, process-unique partials where ``unique`` or the
    ``partials`` setting says so). Raises IntegrityError on a hash mismatch (nothing is placed),
    HubError subclasses for HTTP failures. Returns the bytes fetched.
    """
    from hubcli.client import resolve_path
    from hubcli.fsinfo import unique_partials
    from hubcli.transfer import BlobSlot, FetchJob, Transfer

    xfer = transfer or Transfer(session)
    rc.ensure_dirs()
    if unique is None:
        unique = unique_partials(session.settings.partials, rc.cache_dir)
    target = resolve_path(rc.ref, commit, path)
    with BlobSlot(rc.blob_path(etag), lock=rc.lock(etag, timeout=60), unique=unique) as slot:
        result = slot.fill(
            lambda tmp: xfer.fetch(FetchJob(target, tmp, size, etag, key=etag, label=path))
        )
    return result.fetched_bytes


def _expected_content(
    session: HubSession, problems: list[FileProblem]
) -> dict[tuple[str, str, str, str], tuple[str, int] | str]:
    """Ask the Hub (one paths-info call per repo and commit) for the etag and size of every file
    to repair; the value is ``(etag, size)``, or why it cannot be repaired. A problem with no
    expected etag (a bad link with no cached tree) takes the Hub's."""
    from hubcli.client import HubClient

    client = HubClient(session)
    groups: dict[tuple[str, str, str], list[FileProblem]] = {}
    for p in problems:
        groups.setdefault((p.repo_type, p.repo, p.commit), []).append(p)
    out: dict[tuple[str, str, str, str], tuple[str, int] | str] = {}
    for (repo_type, repo, commit), items in groups.items():
        ref = RepoRef(repo_id=repo, repo_type=repo_type)
        try:
            entries = client.paths_info(ref, revision=commit, paths=[p.path for p in items])
        except HubError as exc:
            for p in items:
                out[(repo_type, repo, commit, p.path)] = str(exc)
            continue
        by_path = {e.path: e for e in entries}
        for p in items:
            e = by_path.get(p.path)
            key = (repo_type, repo, commit, p.path)
            if e is None:
                out[key] = "the Hub no longer lists this file at this commit"
            elif p.etag is not None and e.etag != p.etag:
                out[key] = f"the Hub names other content for it ({e.etag[:12]}…)"
            else:
                out[key] = (str(e.etag), e.size)
    return out


def repair_cache(
    cache_dir: Path,
    *,
    session: HubSession,
    repos: Iterable[RepoRef] | None = None,
    revision: str | None = None,
    report: VerifyReport | None = None,
) -> RepairResult:
    """Re-fetch the blobs that ``verify_cache`` (run here unless ``report`` is given) flags."""
    from hubcli.transfer import Transfer

    if report is None:
        report = verify_cache(cache_dir, repos=repos, revision=revision)
    repaired: list[FileProblem] = []
    failed: list[tuple[FileProblem, str]] = []
    fixable = [
        p
        for p in report.failures
        if p.kind != "extra" and (p.etag or p.kind == "bad_link") and is_commit_sha(p.commit)
    ]
    for problem in report.failures:
        if problem not in fixable:
            failed.append((problem, "cannot repair: no expected content for this file"))
    expected = _expected_content(session, fixable) if fixable else {}
    from hubcli.fsinfo import unique_partials

    xfer = Transfer(session)
    unique = unique_partials(session.settings.partials, cache_dir)
    roots = LinkRoots.for_cache(cache_dir)
    fetched: set[tuple[str, str]] = set()
    total = 0
    for problem in fixable:
        ref = RepoRef(repo_id=problem.repo, repo_type=problem.repo_type)
        rc = RepoCache(cache_dir, ref)
        want = expected.get((problem.repo_type, problem.repo, problem.commit, problem.path))
        if not isinstance(want, tuple):
            failed.append((problem, f"cannot repair: {want}"))
            continue
        etag, size = want
        unsafe = blob_dir_problem(rc.blobs_dir, rc.path)
        if unsafe is not None:
            failed.append((problem, f"cannot repair: {unsafe} (remove it first)"))
            continue
        try:
            if (rc.folder, etag) not in fetched and not (
                problem.kind == "bad_link" and _blob_is_sound(rc, etag, roots)
            ):
                total += fetch_blob(
                    session,
                    rc,
                    commit=problem.commit,
                    path=problem.path,
                    etag=etag,
                    size=size,
                    transfer=xfer,
                    unique=unique,
                )
                fetched.add((rc.folder, etag))
            snap = rc.snapshot_file(problem.commit, problem.path)
            if os.path.islink(snap) or not os.path.lexists(snap) or not _uses_copies(rc):
                rc.link_snapshot(problem.commit, problem.path, etag)
            else:
                # a cache without symlinks: the snapshot holds the bytes itself
                import shutil

                tmp = snap.with_name(f".{snap.name}.{os.urandom(4).hex()}.tmp")
                shutil.copyfile(rc.blob_path(etag), tmp)
                os.replace(tmp, snap)
            repaired.append(problem)
        except Exception as exc:  # reported per file; the rest still gets repaired
            failed.append((problem, str(exc)))
    return RepairResult(repaired=repaired, failed=failed, bytes_fetched=total)


def _blob_is_sound(rc: RepoCache, etag: str, roots: LinkRoots) -> bool:
    """True when ``blobs/<etag>`` obeys the link rule and hashes to its name (a bad snapshot
    link next to a good blob only needs relinking)."""
    state = check_blob(rc.blob_path(etag), roots)
    if not state.ok or state.target is None:
        return False
    return verify_file(state.target, etag)


def _uses_copies(rc: RepoCache) -> bool:
    """True when the repo's snapshots hold plain files (a cache written without symlinks)."""
    try:
        return not any(os.scandir(rc.blobs_dir))
    except OSError:
        return True
