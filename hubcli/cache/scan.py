"""The cache scan: a fast, never-crashing inventory of the repos, revisions, refs and blobs.

Works on any Hugging Face cache (hubcli, huggingface_hub, transformers). Uses ``os.scandir`` and
``lstat`` only; symlink targets are resolved by string arithmetic on ``readlink`` so a snapshot file
costs one syscall. Bytes are counted once per blob and once per inode (hardlinks, shared payloads).
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable
from pathlib import Path

from hubcli.cache.layout import parse_repo_folder
from hubcli.cache.links import (
    SHARED_STORE_MARKER,
    LinkRoots,
    blob_dir_problem,
    check_blob,
    first_hop,
    shared_store,
)
from hubcli.cache.records import (
    CacheScan,
    InodeKey,
    ScannedBlob,
    ScannedFile,
    ScannedRepo,
    ScannedRevision,
)
from hubcli.repo import RepoRef

__all__ = [
    "SHARED_STORE_MARKER",
    "CacheScan",
    "ScannedBlob",
    "ScannedFile",
    "ScannedRepo",
    "ScannedRevision",
    "scan_cache",
    "scan_repo",
]
_SKIP_TOP = {".DS_Store", "Thumbs.db", "desktop.ini", ".locks", "CACHEDIR.TAG"}

_new = tuple.__new__  # builds a NamedTuple without the Python-level __new__ (hot loops)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _linked_blob(name: str, path: str, roots: LinkRoots, warnings: list[str]) -> ScannedBlob:
    """A repo blob that is a symlink (huggingface_hub's shared store, or a poisoned entry)."""
    state = check_blob(path, roots)
    if state.status == "missing":
        warnings.append(f"Blob {path} is a broken link.")
        return ScannedBlob(name, path, 0, 0.0, 0.0, (0, 0), 0, shared=True, exists=False)
    if not state.ok or state.target is None:
        warnings.append(f"Blob {path}: {state.detail}.")
        return ScannedBlob(name, path, 0, 0.0, 0.0, (0, 0), 0, shared=True, problem=state.detail)
    try:
        st = os.stat(state.target)
    except OSError:
        warnings.append(f"Blob {path} is a broken link.")
        return ScannedBlob(name, path, 0, 0.0, 0.0, (0, 0), 0, shared=True, exists=False)
    key = (st.st_dev, st.st_ino)
    root = roots.root_of(state.target)
    tier = root if root is not None and root in roots.tiers else None
    return ScannedBlob(
        name, path, st.st_size, st.st_atime, st.st_mtime, key, st.st_nlink, shared=True,
        tier=tier,
    )  # fmt: skip


def _scan_blobs(
    blobs_dir: str, warnings: list[str], roots: LinkRoots
) -> tuple[dict[str, ScannedBlob], list[tuple[str, int, float]]]:
    """The repo's blobs; a blobs folder that is itself a link is not followed (nothing listed)."""
    blobs: dict[str, ScannedBlob] = {}
    incomplete: list[tuple[str, int, float]] = []
    problem = blob_dir_problem(blobs_dir, os.path.dirname(blobs_dir))
    if problem is not None:
        warnings.append(f"{blobs_dir}: {problem}; its blobs are not trusted.")
        return blobs, incomplete
    try:
        it = os.scandir(blobs_dir)
    except FileNotFoundError:
        return blobs, incomplete
    except OSError as exc:
        warnings.append(f"Cannot read {blobs_dir}: {exc.strerror or exc}.")
        return blobs, incomplete
    with it:
        for entry in it:
            name = entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if name.endswith(".incomplete"):
                incomplete.append((entry.path, st.st_size, st.st_mtime))
                continue
            if stat_mod.S_ISLNK(st.st_mode):
                blobs[name] = _linked_blob(name, entry.path, roots, warnings)
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            blobs[name] = _new(
                ScannedBlob,
                (
                    name,
                    entry.path,
                    st.st_size,
                    st.st_atime,
                    st.st_mtime,
                    (st.st_dev, st.st_ino),
                    st.st_nlink,
                    False,
                    True,
                    None,
                    None,
                ),
            )
    return blobs, incomplete


def _scan_refs(refs_dir: str, warnings: list[str]) -> dict[str, str]:
    refs: dict[str, str] = {}
    stack = [(refs_dir, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            it = os.scandir(directory)
        except NotADirectoryError:
            warnings.append(f"{directory} is a file, not a folder.")
            continue
        except OSError:
            continue
        with it:
            for entry in it:
                name = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, name + "/"))
                elif entry.name.endswith(".tmp"):
                    continue
                else:
                    try:
                        fd = os.open(entry.path, os.O_RDONLY)
                        try:
                            raw = os.read(fd, 200)
                        finally:
                            os.close(fd)
                    except OSError:
                        continue
                    refs[name] = raw.decode("utf-8", "replace").strip()
    return refs


def _scan_snapshot(
    snap_dir: str,
    blobs_dir: str,
    blobs: dict[str, ScannedBlob],
    warnings: list[str],
) -> list[ScannedFile]:
    files: list[ScannedFile] = []
    append = files.append
    stack = [(snap_dir, "", "../../blobs/")]
    while stack:
        directory, prefix, expected = stack.pop()
        cut = len(expected)
        try:
            it = os.scandir(directory)
        except OSError:
            continue
        with it:
            for entry in it:
                rel = prefix + entry.name
                if entry.is_symlink():
                    try:
                        target = os.readlink(entry.path)
                    except OSError:
                        continue
                    if target.startswith(expected) and "/" not in target[cut:]:
                        # the common case: the relative link huggingface_hub and hubcli write
                        etag = target[cut:]
                        blob = blobs.get(etag)
                        if blob is not None:
                            append(
                                _new(
                                    ScannedFile,
                                    (
                                        rel,
                                        entry.path,
                                        etag,
                                        blob[1],
                                        blob[2],
                                        blob[8],
                                        True,
                                        blob[9],
                                    ),
                                )
                            )
                            continue
                    append(_odd_link(rel, entry.path, target, blobs_dir, blobs, warnings))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, rel + "/", "../" + expected))
                elif entry.name.endswith(".tmp") and entry.name.startswith("."):
                    continue
                else:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat_mod.S_ISREG(st.st_mode):
                        append(
                            ScannedFile(rel, entry.path, None, entry.path, st.st_size, True, False)
                        )
                    else:
                        problem = "the snapshot entry is not a regular file"
                        append(
                            ScannedFile(rel, entry.path, None, entry.path, 0, True, False, problem)
                        )
    return files


def _odd_link(
    rel: str,
    path: str,
    target: str,
    blobs_dir: str,
    blobs: dict[str, ScannedBlob],
    warnings: list[str],
) -> ScannedFile:
    """A snapshot symlink off the common ``../../blobs/<etag>`` shape: judged by the link rule."""
    full = os.path.normpath(os.path.join(os.path.dirname(path), target))
    name = first_hop(path, blobs_dir)
    if name is None:
        leaves = f"the link leaves its repo's blobs folder (to {target[:200]!r})"
        return ScannedFile(rel, path, None, full, 0, True, True, leaves)
    blob = blobs.get(name)
    blob_path = os.path.join(blobs_dir, name)
    if blob is not None:
        return ScannedFile(rel, path, name, blob.path, blob.size, blob.exists, True, blob.problem)
    try:
        os.lstat(blob_path)
    except OSError:
        warnings.append(f"Blob missing (broken symlink): {path}.")
        return ScannedFile(rel, path, name, blob_path, 0, False, True)
    problem = blob_dir_problem(blobs_dir, os.path.dirname(blobs_dir))
    why = problem or f"the link names {name[:200]!r}, which is not a usable blob"
    return ScannedFile(rel, path, name, blob_path, 0, True, True, why)


def _scan_snapshot_light(
    snap_dir: str, blobs_dir: str, blobs: dict[str, ScannedBlob], warnings: list[str]
) -> tuple[int, set[str], list[tuple[str, os.stat_result]]]:
    """Count files and collect linked etags without building per-file records (for listings)."""
    count = 0
    etags: set[str] = set()
    add = etags.add
    others: list[tuple[str, os.stat_result]] = []
    stack = [(snap_dir, "../../blobs/")]
    while stack:
        directory, expected = stack.pop()
        cut = len(expected)
        try:
            it = os.scandir(directory)
        except OSError:
            continue
        with it:
            for entry in it:
                if entry.is_symlink():
                    try:
                        target = os.readlink(entry.path)
                    except OSError:
                        continue
                    count += 1
                    etag = target[cut:]
                    if target.startswith(expected) and etag in blobs and "/" not in etag:
                        add(etag)
                        continue
                    full = os.path.normpath(os.path.join(directory, target))
                    name = os.path.basename(full)
                    if os.path.dirname(full) == blobs_dir and name in blobs:
                        add(name)
                        continue
                    if first_hop(entry.path, blobs_dir) is None:
                        continue  # a link leaving its repo's blobs: never followed
                    try:
                        st = os.stat(entry.path)
                    except OSError:
                        warnings.append(f"Blob missing (broken symlink): {entry.path}.")
                        continue
                    others.append((full, st))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, "../" + expected))
                elif not (entry.name.endswith(".tmp") and entry.name.startswith(".")):
                    try:
                        others.append((entry.path, entry.stat(follow_symlinks=False)))
                    except OSError:
                        continue
                    count += 1
    return count, etags, others


def scan_repo(
    folder: str | Path,
    ref: RepoRef,
    *,
    warnings: list[str] | None = None,
    detail: bool = True,
    roots: LinkRoots | None = None,
) -> ScannedRepo | None:
    """Scan one repo folder; returns None (with a warning) when it is not a usable repo.

    ``detail=False`` skips the per-file records (``ScannedRevision.files`` stays empty) but keeps
    every count, size and etag set: enough for listings, about twice as fast. ``roots`` says where
    a repo blob's links may end (default: the shared store of the folder's cache)."""
    warns = warnings if warnings is not None else []
    path = os.fspath(folder)
    if roots is None:
        roots = LinkRoots.for_cache(os.path.dirname(os.path.abspath(path)))
    snapshots_dir = os.path.join(path, "snapshots")
    try:
        with os.scandir(path) as it:
            top = {e.name: e.is_dir(follow_symlinks=False) for e in it}
    except OSError:
        top = {}
    if not top.get("snapshots"):
        warns.append(f"Snapshots dir doesn't exist in cached repo: {snapshots_dir}.")
        return None
    blobs_dir = os.path.join(path, "blobs")
    if "blobs" in top:
        blobs, incomplete = _scan_blobs(blobs_dir, warns, roots)
    else:
        blobs, incomplete = {}, []
    refs_dir = os.path.join(path, "refs")
    refs = _scan_refs(refs_dir, warns) if "refs" in top else {}
    by_commit: dict[str, list[str]] = {}
    for name, commit in refs.items():
        by_commit.setdefault(commit, []).append(name)
    revisions: list[ScannedRevision] = []
    inodes: dict[InodeKey, int] = {}
    last_accessed = 0.0
    last_modified = 0.0
    tier_inodes: dict[InodeKey, tuple[str, int]] = {}
    for blob in blobs.values():
        if blob.exists and blob.problem is None and blob.tier is not None:
            tier_inodes[blob.key] = (blob.tier, blob.size)  # not on this cache's disk
        elif blob.exists and blob.problem is None:
            inodes[blob.key] = blob.size
            if blob.atime > last_accessed:
                last_accessed = blob.atime
            if blob.mtime > last_modified:
                last_modified = blob.mtime
    try:
        snap_entries = sorted(os.scandir(snapshots_dir), key=lambda e: e.name)
    except OSError as exc:
        warns.append(f"Cannot read {snapshots_dir}: {exc.strerror or exc}.")
        snap_entries = []
    for entry in snap_entries:
        if not entry.is_dir(follow_symlinks=False):
            warns.append(f"Snapshots folder corrupted. Found a file: {entry.path}.")
            continue
        rev_size = 0
        rev_mtime = 0.0
        used: set[str] = set()
        if detail:
            files = _scan_snapshot(entry.path, blobs_dir, blobs, warns)
            files.sort(key=lambda f: f.path)
            count = len(files)
            etags = {f.etag for f in files if f.etag is not None and f.etag in blobs}
            others = []
            for f in files:
                if f.exists and f.problem is None and (f.etag is None or f.etag not in blobs):
                    st = _lstat(f.snapshot_path) if not f.is_link else _stat(f.snapshot_path)
                    if st is not None:
                        others.append((f.blob_path, st))
        else:
            files = []
            count, etags, others = _scan_snapshot_light(entry.path, blobs_dir, blobs, warns)
        rev_tiers: dict[str, int] = {}
        for etag in etags:
            b = blobs[etag]
            used.add(b.path)
            if b.tier is not None and b.problem is None:
                rev_tiers[b.tier] = rev_tiers.get(b.tier, 0) + b.size
                continue
            rev_size += b.size
            if b.mtime > rev_mtime:
                rev_mtime = b.mtime
        for other, st in others:
            used.add(other)
            rev_size += st.st_size
            rev_mtime = max(rev_mtime, st.st_mtime)
            if (st.st_dev, st.st_ino) not in tier_inodes:
                inodes[(st.st_dev, st.st_ino)] = st.st_size
        revisions.append(
            ScannedRevision(
                commit=entry.name,
                path=entry.path,
                files=tuple(files),
                refs=tuple(sorted(by_commit.get(entry.name, ()))),
                size=rev_size,
                last_modified=rev_mtime,
                nb_files=count,
                etags=frozenset(etags),
                used=frozenset(used),
                tiers=rev_tiers,
            )
        )
    known = {r.commit for r in revisions}
    for name, commit in sorted(refs.items()):
        if commit not in known:
            warns.append(f"Reference {name!r} of {ref} refers to a missing commit {commit[:40]!r}.")
    return ScannedRepo(
        ref=ref,
        path=path,
        revisions=tuple(revisions),
        refs=refs,
        blobs=blobs,
        incomplete=tuple(incomplete),
        size=sum(inodes.values()),
        last_accessed=last_accessed,
        last_modified=last_modified,
        inodes=inodes,
        tiers=_per_tier(tier_inodes),
    )


def _per_tier(tier_inodes: dict[InodeKey, tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for tier, size in tier_inodes.values():
        out[tier] = out.get(tier, 0) + size
    return out


def scan_cache(
    cache_dir: str | Path,
    *,
    only: Iterable[RepoRef] | None = None,
    workers: int = 1,
    detail: bool = True,
    tiers: Iterable[str | os.PathLike[str]] = (),
) -> CacheScan:
    """Scan the cache (or only the named repos). Problems become ``warnings``; nothing raises.

    ``tiers`` are read-only blob stores a repo blob may link into (besides the shared store)."""
    root = os.fspath(cache_dir)
    result = CacheScan(cache_dir=root)
    roots = LinkRoots.for_cache(root, tiers)
    wanted = {(r.repo_type, r.repo_id) for r in only} if only is not None else None
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return result
    except OSError as exc:
        result.warnings.append(f"Cannot read cache folder {root}: {exc.strerror or exc}.")
        return result
    jobs: list[tuple[str, RepoRef]] = []
    for entry in entries:
        name = entry.name
        if name in _SKIP_TOP or name.startswith(".hubcli-"):
            continue
        if name == "blobs" and shared_store(root) is not None:
            continue
        if not entry.is_dir(follow_symlinks=False):
            if wanted is None:
                result.warnings.append(f"Scan cache expects a folder, found a file: {entry.path}.")
            continue
        ref = parse_repo_folder(name)
        if ref is None:
            if wanted is None:
                result.warnings.append(f"Not a valid Hugging Face cache folder: {entry.path}.")
            continue
        if wanted is not None and (ref.repo_type, ref.repo_id) not in wanted:
            continue
        jobs.append((entry.path, ref))

    def one(job: tuple[str, RepoRef]) -> tuple[ScannedRepo | None, list[str]]:
        warns: list[str] = []
        try:
            return scan_repo(job[0], job[1], warnings=warns, detail=detail, roots=roots), warns
        except OSError as exc:  # pragma: no cover - defensive: a scan never crashes
            return None, [f"Cannot scan {job[0]}: {exc.strerror or exc}."]

    if len(jobs) > 16 and workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, jobs, chunksize=16))
    else:
        results = [one(job) for job in jobs]
    for repo, warns in results:
        result.warnings.extend(warns)
        if repo is None:
            continue
        result.repos.append(repo)
        result.incomplete.extend(repo.incomplete)
    counts: dict[InodeKey, int] = {}
    sizes: dict[InodeKey, int] = {}
    tier_keys: dict[InodeKey, tuple[str, int]] = {}
    for repo in result.repos:
        for blob in repo.blobs.values():
            if blob.tier is not None and blob.exists and blob.problem is None:
                tier_keys[blob.key] = (blob.tier, blob.size)
        for key, size in repo.inodes.items():
            counts[key] = counts.get(key, 0) + 1
            sizes[key] = size
    result.size = sum(sizes.values())
    result.shared = sum(sizes[k] for k, n in counts.items() if n > 1)
    result.tiers = _per_tier(tier_keys)
    return result
