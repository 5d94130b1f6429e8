"""``hubcli sync`` into ``local-dir`` targets: place locked files, remove only what sync placed.

A manifest (``.cache/huggingface/hubcli-sync.json``) records what sync put in the folder, so a
file that leaves the lock is removed only when sync placed it and it is unchanged.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.cache.layout import RepoCache, atomic_write_text
from hubcli.download.localdir import LocalDir
from hubcli.errors import HubError
from hubcli.lock.stamps import StampStore
from hubcli.models import FileEntry

if TYPE_CHECKING:
    from hubcli.lock.sync import RepoSync

MANIFEST_NAME = "hubcli-sync.json"
MANIFEST_VERSION = 1


def sync_local_dir(
    target: Path,
    syncs: list[RepoSync],
    caches: dict[int, RepoCache],
    *,
    stamps: StampStore,
    force_hash: bool,
) -> None:
    """Make ``target`` hold every file its locked repos name (copies of verified blobs, with
    huggingface_hub's metadata) and remove only files an earlier sync placed there and that are
    no longer locked and still unchanged; unknown or modified files are never touched."""
    ldir = LocalDir(target)
    ldir.prepare()
    manifest_path = ldir.meta_root / MANIFEST_NAME
    placed_before = _read_manifest(manifest_path)
    locked: dict[str, str] = {}
    for s in syncs:
        cache = caches[id(s)]
        commit = s.repo.commit
        if cache.read_tree(commit) is not None and ldir.read_tree(commit) is None:
            ldir.write_tree(commit, _tree_entries(cache, commit))
        for f in s.repo.files:
            locked[f.path] = f.sha256
            dest = ldir.file_path(f.path)
            etag = f.etag
            if (
                dest.is_file()
                and not dest.is_symlink()
                and stamps.verify(dest, f.sha256, size=f.size, force=force_hash)
            ):
                meta = ldir.read_metadata(f.path)
                if meta is None or meta.etag != etag or meta.commit != commit:
                    ldir.write_metadata(f.path, commit, etag)
                continue
            blob = cache.blob_path(etag)
            ldir.place(f.path, blob, move=False)
            stamps.record(dest, f.sha256)
            ldir.write_metadata(f.path, commit, etag)
    removed, kept = [], []
    for rel, sha in sorted(placed_before.items()):
        if rel in locked:
            continue
        dest = ldir.file_path(rel)
        if not dest.exists() and not dest.is_symlink():
            continue
        if dest.is_file() and not dest.is_symlink() and stamps.verify(dest, sha):
            stamps.forget(dest)
            with contextlib.suppress(FileNotFoundError):
                dest.unlink()
            with contextlib.suppress(OSError, HubError):
                ldir.metadata_path(rel).unlink()
            _prune_empty(dest.parent, ldir.root)
            removed.append(rel)
        else:
            kept.append(rel)
    for s in syncs:  # reported on the first repo of the folder (it is one folder)
        s.removed, s.kept_modified = removed, kept
        break
    still = {r: placed_before[r] for r in kept}
    _write_manifest(manifest_path, {**still, **locked})


def _tree_entries(cache: RepoCache, commit: str) -> list[FileEntry]:
    from hubcli.download.plan import entries_from_tree

    tree = cache.read_tree(commit) or {}
    return entries_from_tree(tree, what=f"{cache.ref}@{commit}")


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)}


def _write_manifest(path: Path, files: dict[str, str]) -> None:
    doc = {"version": MANIFEST_VERSION, "files": dict(sorted(files.items()))}
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def _prune_empty(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``root`` while they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
