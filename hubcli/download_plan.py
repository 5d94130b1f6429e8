"""Download plans: which commit, which files, what is already here (network, cache, offline).

A plan comes from one repo-info request (``blobs=true``: the commit plus every file's size and
etag), or from the cache alone: a commit whose ``trees/<commit>.json`` is cached and whose files
are all present needs no request, and offline mode resolves through ``refs/`` and ``snapshots/``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from hubcli.cache import RepoCache
from hubcli.errors import HubError, OfflineError, ServerError
from hubcli.localdir import LocalDir
from hubcli.models import FileEntry
from hubcli.repo import RepoRef, is_commit_sha, validate_repo_path

if TYPE_CHECKING:
    from hubcli.http import HubSession


@dataclass
class Plan:
    commit: str
    entries: list[FileEntry]
    wanted: list[FileEntry]
    single: str | None
    from_network: bool
    served_by: list[str] = field(default_factory=list)


# -- selection ---------------------------------------------------------------------------------
def _matches(path: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        return path.startswith(pattern) or fnmatch.fnmatchcase(path, pattern + "*")
    return fnmatch.fnmatchcase(path, pattern)


def select_files(
    entries: Sequence[FileEntry],
    *,
    files: Sequence[str] | None,
    include: Iterable[str],
    exclude: Iterable[str],
) -> tuple[list[FileEntry], list[str]]:
    """Pick the entries to fetch; return (wanted, requested names that do not exist)."""
    include, exclude = list(include), list(exclude)
    by_path = {e.path: e for e in entries}
    missing: list[str] = []
    if files:
        chosen: dict[str, FileEntry] = {}
        for name in files:
            if name.endswith("/"):
                hits = [e for e in entries if e.path.startswith(name)]
                if not hits:
                    missing.append(name)
                chosen.update((e.path, e) for e in hits)
            elif name in by_path:
                chosen[name] = by_path[name]
            else:
                missing.append(name)
        wanted = list(chosen.values())
    else:
        wanted = list(entries)
    if include:
        wanted = [e for e in wanted if any(_matches(e.path, p) for p in include)]
    if exclude:
        wanted = [e for e in wanted if not any(_matches(e.path, p) for p in exclude)]
    return sorted(wanted, key=lambda e: e.path), missing


def entries_from_tree(tree: dict[str, dict[str, Any]]) -> list[FileEntry]:
    out = []
    for path, info in tree.items():
        out.append(
            FileEntry(
                path=validate_repo_path(str(path)),
                size=int(info.get("size") or 0),
                blob_id=str(info.get("blob_id") or ""),
                lfs_sha256=info.get("lfs_sha256"),
                lfs_size=info.get("lfs_size"),
            )
        )
    return out


# -- planning ----------------------------------------------------------------------------------
def fetch_listing(session: HubSession, ref: RepoRef, revision: str) -> tuple[str, list[FileEntry]]:
    """One request: the commit ``revision`` resolves to and every file's size and etag.

    Mirrors are tried after the endpoint on connection failures, timeouts and 5xx. Every path is
    validated (UnsafePathError refuses the whole listing). Raises the mapped HubError subclasses.
    """
    path = f"/api/{ref.api_plural}/{ref.repo_id}/revision/{quote(revision, safe='')}"
    what = f"{ref}@{revision}"
    resp = session.request("GET", path, params={"blobs": "true"}, what=what, failover=True)
    try:
        data = resp.json()
    except ValueError as exc:
        raise ServerError(f"{what}: the server sent invalid JSON.") from exc
    if not isinstance(data, dict) or not is_commit_sha(str(data.get("sha") or "")):
        raise ServerError(f"{what}: the repo info answer has no commit sha.")
    siblings = data.get("siblings") or []
    entries = [FileEntry.from_sibling(s) for s in siblings if isinstance(s, dict)]
    return str(data["sha"]), entries


def single_file(files: Sequence[str] | None) -> str | None:
    if files and len(files) == 1 and not files[0].endswith("/"):
        return files[0]
    return None


def cached_plan(
    cache: RepoCache,
    ldir: LocalDir | None,
    revision: str,
    files: Sequence[str] | None,
    include: list[str],
    exclude: list[str],
    force: bool,
) -> Plan | None:
    """A plan needing no request: a commit whose listing is cached and whose files are all here."""
    if force or not is_commit_sha(revision):
        return None
    tree = ldir.read_tree(revision) if ldir else cache.read_tree(revision)
    if tree is None:
        return None
    try:
        entries = entries_from_tree(tree)
    except HubError:
        return None
    wanted, missing = select_files(entries, files=files, include=include, exclude=exclude)
    if missing:
        return None
    for e in wanted:
        ok = ldir.is_current(e) if ldir else cache.snapshot_has(revision, e.path)
        if not ok:
            return None
    return Plan(revision, entries, wanted, single_file(files), False)


def offline_plan(
    cache: RepoCache,
    ldir: LocalDir | None,
    revision: str,
    files: Sequence[str] | None,
    include: list[str],
    exclude: list[str],
) -> Plan:
    """Resolve through refs/ and snapshots/ only; OfflineError names what is missing."""
    where = f"{cache.ref}@{revision}"
    commit = cache.resolve_offline(revision)
    if commit is None:
        raise OfflineError(
            f"Offline: {where} is not in the cache {cache.cache_dir} (no refs/{revision}).",
            hint="Download it once while online, or pass the commit sha as --revision.",
        )
    snap = cache.snapshot_dir(commit)
    tree = cache.read_tree(commit) or (ldir.read_tree(commit) if ldir else None)
    if tree is not None:
        entries = entries_from_tree(tree)
    elif snap.is_dir():
        entries = [
            FileEntry(path=p.relative_to(snap).as_posix(), size=p.stat().st_size, blob_id="")
            for p in sorted(snap.rglob("*"))
            if p.is_file()
        ]
    else:
        raise OfflineError(f"Offline: {where} (commit {commit[:12]}) has no snapshot in the cache.")
    wanted, missing = select_files(entries, files=files, include=include, exclude=exclude)
    if tree is None and files:
        # No listing cached: a named file that is not on disk cannot be told apart from absent.
        missing = [f for f in files if not f.endswith("/") and not cache.snapshot_has(commit, f)]
    for e in wanted:
        here = ldir.is_current(e) if ldir else False
        if not here and not cache.snapshot_has(commit, e.path):
            missing.append(e.path)
    if missing:
        shown = ", ".join(missing[:20]) + (
            f" (+{len(missing) - 20} more)" if len(missing) > 20 else ""
        )
        raise OfflineError(
            f"Offline: {len(missing)} file(s) of {where} are not in the cache: {shown}.",
            hint="Run the same download once while online.",
        )
    return Plan(commit, entries, wanted, single_file(files), False)
