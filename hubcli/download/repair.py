"""Cache repair: fetch again (verified, through the transfer engine) exactly the blobs that
``verify_cache`` flags, and relink snapshot entries that point astray. It is a download of chosen
blobs, so it lives with the download engine; the cache package itself never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.cache.layout import RepoCache
from hubcli.cache.links import LinkRoots, blob_dir_problem, check_blob
from hubcli.cache.verify import FileProblem, VerifyReport, verify_cache
from hubcli.errors import HubError
from hubcli.hashing import verify_file
from hubcli.repo import RepoRef, is_commit_sha, normalize_repo_type

if TYPE_CHECKING:
    from hubcli.http import HubSession
    from hubcli.transfer.engine import Transfer


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
    from hubcli.fsinfo import unique_partials
    from hubcli.repo import resolve_path
    from hubcli.transfer.engine import Transfer
    from hubcli.transfer.job import FetchJob
    from hubcli.transfer.placement import BlobSlot

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
        ref = RepoRef(repo_id=repo, repo_type=normalize_repo_type(repo_type))
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
    from hubcli.transfer.engine import Transfer

    if report is None:
        report = verify_cache(
            cache_dir, repos=repos, revision=revision, tiers=session.settings.cache_tiers
        )
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
    roots = LinkRoots.for_cache(cache_dir, session.settings.cache_tiers)
    fetched: set[tuple[str, str]] = set()
    total = 0
    for problem in fixable:
        ref = RepoRef(repo_id=problem.repo, repo_type=normalize_repo_type(problem.repo_type))
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
