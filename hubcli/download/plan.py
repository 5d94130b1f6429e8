"""Download plans: which commit, which files, what is already here (network, cache, offline).

A plan comes from the revision listing (:meth:`hubcli.client.HubClient.revision_listing`: the
commit, every file's size and etag, and the mirror that answered), or from the cache alone: a
commit whose ``trees/<commit>.json`` is cached and whose files are all present needs no request,
and offline mode resolves through ``refs/`` and ``snapshots/``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.cache.layout import RepoCache
from hubcli.cache.tiers import Tiers
from hubcli.download.localdir import LocalDir
from hubcli.errors import EntryNotFoundError, HubError, IntegrityError, OfflineError
from hubcli.globs import filter_paths
from hubcli.hashing import Sha256, git_blob_sha1, parse_etag
from hubcli.models import FileEntry
from hubcli.repo import is_commit_sha


@dataclass
class Plan:
    commit: str
    entries: list[FileEntry]
    wanted: list[FileEntry]
    single: str | None
    from_network: bool
    served_by: list[str] = field(default_factory=list)
    # Something comes from a read-only tier (a ref, the listing or files): the writable cache
    # records the revision (snapshot folder, the ref it lacked, the tier's tree when it has one).
    from_tier: bool = False
    tier_tree: bool = False


# -- selection ---------------------------------------------------------------------------------
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
    wanted = filter_paths(wanted, include=include, exclude=exclude, key=lambda e: e.path)
    return sorted(wanted, key=lambda e: e.path), missing


def entries_from_tree(tree: dict[str, dict[str, Any]], *, what: str) -> list[FileEntry]:
    """The entries of a cached ``trees/<commit>.json``; IntegrityError if it is corrupt."""
    out = []
    for path, info in tree.items():
        item = dict(info) if isinstance(info, dict) else info
        if isinstance(item, dict):
            item["path"] = path
            sha = item.get("lfs_sha256")
            item["lfs"] = None if sha is None else {"oid": sha, "size": item.get("lfs_size")}
            item["oid"] = item.get("blob_id")
        out.append(FileEntry.from_tree_item(item, what=what, error=IntegrityError))
    return out


def folder_names(entries: Sequence[FileEntry], missing: Sequence[str]) -> list[str]:
    """The names in ``missing`` that are folders of the repo named without a trailing '/'."""
    dirs = {p.rsplit("/", 1)[0] for p in (e.path for e in entries) if "/" in p}
    folders: set[str] = set()
    for d in dirs:
        parts = d.split("/")
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return [m for m in missing if not m.endswith("/") and m.rstrip("/") in folders]


def folder_error(where: str, names: Sequence[str], commit: str | None) -> EntryNotFoundError:
    shown = ", ".join(names)
    return EntryNotFoundError(
        f"{where}: {shown} is a folder, not a file; name it "
        + ", ".join(f"{n}/" for n in names)
        + " to download what is in it.",
        commit=commit,
    )


def require_selection(
    entries: Sequence[FileEntry],
    wanted: Sequence[FileEntry],
    *,
    files: Sequence[str] | None,
    include: Sequence[str],
    exclude: Sequence[str],
    where: str,
    commit: str | None = None,
) -> None:
    """A selection (files, --include, --exclude) that matches no file is an error (exit 4)
    naming the pattern that matched nothing and a few real paths; an empty repo asked for as a
    whole is not."""
    if wanted or not (files or include or exclude):
        return
    candidates, _ = select_files(entries, files=files, include=(), exclude=())
    paths = [e.path for e in candidates]
    dead = [p for p in include if not filter_paths(paths, include=[p], key=str)]
    if files and not candidates:
        what = "the files named match nothing"
    elif dead:
        what = "--include " + ", ".join(repr(p) for p in dead) + " matched nothing"
    elif include and exclude:
        what = (
            "--exclude " + ", ".join(repr(p) for p in exclude) + " removed every file "
            "--include " + ", ".join(repr(p) for p in include) + " matched"
        )
    elif exclude:
        what = "--exclude " + ", ".join(repr(p) for p in exclude) + " removed every file"
    else:
        what = "no file matched --include " + ", ".join(repr(p) for p in include)
    if files and candidates:
        what += " among " + ", ".join(files)
    pool = paths or [e.path for e in entries]
    some = ", ".join(pool[:5]) + (f" (+{len(pool) - 5} more)" if len(pool) > 5 else "")
    real = f"; files there include {some}" if some else "; the repo has no files"
    raise EntryNotFoundError(f"{where}: nothing to download: {what}{real}.", commit=commit)


# -- planning ----------------------------------------------------------------------------------
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
    tiers: Tiers | None = None,
) -> Plan | None:
    """A plan needing no request: a commit whose listing is cached (in the writable cache or a
    read-only tier) and whose files are all here (or in a tier)."""
    if force or not is_commit_sha(revision):
        return None
    tree = ldir.read_tree(revision) if ldir else cache.read_tree(revision)
    tier_tree = False
    if tree is None and tiers is not None:
        tree = tiers.read_tree(cache.ref, revision)
        tier_tree = tree is not None
    if tree is None:
        return None
    try:
        entries = entries_from_tree(tree, what=f"{cache.ref}@{revision}")
    except HubError:
        return None
    wanted, missing = select_files(entries, files=files, include=include, exclude=exclude)
    if missing:
        return None
    require_selection(
        entries,
        wanted,
        files=files,
        include=include,
        exclude=exclude,
        where=f"{cache.ref}@{revision}",
        commit=revision,
    )
    from_tier = tier_tree
    for e in wanted:
        ok = ldir.is_current(e) if ldir else cache.snapshot_has(revision, e.path)
        if not ok and tiers is not None and tiers.has(cache.ref, e.etag):
            ok = from_tier = True
        if not ok:
            return None
    return Plan(
        revision, entries, wanted, single_file(files), False, from_tier=from_tier,
        tier_tree=tier_tree,
    )  # fmt: skip


def _snapshot_entry(snap: Path, path: Path) -> FileEntry:
    """An entry for a snapshot file when no listing is cached: the etag is the blob the link
    names, else (a copy, in caches made without symlinks) the file's git blob sha1."""
    rel = path.relative_to(snap).as_posix()
    size = path.stat().st_size
    etag = None
    if path.is_symlink():
        with contextlib.suppress(HubError, OSError):
            etag = parse_etag(os.path.basename(os.readlink(path)), what=rel, error=IntegrityError)
    if etag is None:
        etag = parse_etag(git_blob_sha1(path), what=rel)
    if isinstance(etag, Sha256):
        return FileEntry(path=rel, size=size, blob_id=None, lfs_sha256=etag, lfs_size=size)
    return FileEntry(path=rel, size=size, blob_id=etag)


def offline_plan(
    cache: RepoCache,
    ldir: LocalDir | None,
    revision: str,
    files: Sequence[str] | None,
    include: list[str],
    exclude: list[str],
    tiers: Tiers | None = None,
) -> Plan:
    """Resolve through refs/ and snapshots/ only (the writable cache's, else a read-only
    tier's); OfflineError names what is missing."""
    where = f"{cache.ref}@{revision}"
    commit = cache.resolve_offline(revision)
    from_tier = tier_tree = False
    if commit is None and tiers is not None:
        commit = tiers.resolve(cache.ref, revision)
        from_tier = commit is not None
    if commit is None:
        raise OfflineError(
            f"Offline: {where} is not in the cache {cache.cache_dir} (no refs/{revision}).",
            hint="Download it once while online, or pass the commit sha as --revision.",
        )
    snap = cache.snapshot_dir(commit)
    tree = cache.read_tree(commit) or (ldir.read_tree(commit) if ldir else None)
    if tree is None and tiers is not None:
        tree = tiers.read_tree(cache.ref, commit)
        tier_tree = from_tier = tree is not None
    tier_snap = tiers.snapshot_dir(cache.ref, commit) if tiers is not None else None
    if tree is not None:
        entries = entries_from_tree(tree, what=f"cached listing of {where}")
    elif snap.is_dir():
        entries = [_snapshot_entry(snap, p) for p in sorted(snap.rglob("*")) if p.is_file()]
    elif tier_snap is not None:
        from_tier = True
        entries = [
            _snapshot_entry(tier_snap, p) for p in sorted(tier_snap.rglob("*")) if p.is_file()
        ]
    else:
        raise OfflineError(f"Offline: {where} (commit {commit[:12]}) has no snapshot in the cache.")
    wanted, missing = select_files(entries, files=files, include=include, exclude=exclude)
    folders = folder_names(entries, missing)
    if folders:
        raise folder_error(where, folders, commit)
    if not missing:
        require_selection(
            entries,
            wanted,
            files=files,
            include=include,
            exclude=exclude,
            where=where,
            commit=commit,
        )
    if tree is None and files:
        # No listing cached: a named file that is not on disk cannot be told apart from absent.
        listed = {e.path for e in entries}
        missing = [
            f
            for f in files
            if not f.endswith("/") and not cache.snapshot_has(commit, f) and f not in listed
        ]
    for e in wanted:
        here = ldir.is_current(e) if ldir else False
        if not here and not cache.snapshot_has(commit, e.path):
            if tiers is not None and tiers.has(cache.ref, e.etag):
                from_tier = True
            else:
                missing.append(e.path)
    if missing:
        shown = ", ".join(missing[:20]) + (
            f" (+{len(missing) - 20} more)" if len(missing) > 20 else ""
        )
        raise OfflineError(
            f"Offline: not in the cache, of {where} (missing: {len(missing)}): {shown}.",
            hint="Run the same download once while online.",
        )
    return Plan(
        commit, entries, wanted, single_file(files), False, from_tier=from_tier,
        tier_tree=tier_tree,
    )  # fmt: skip
