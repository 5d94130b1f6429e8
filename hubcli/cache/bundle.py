"""Cache bundles: a tar of repos (blobs once + a manifest of snapshots, refs and trees) to move
cached repos to another machine, and its safe, verifying, all-or-nothing import.

Bundle layout (tar, optionally gzip): first member ``hubcli-bundle.json`` (the manifest, see
:mod:`hubcli.cache.bundle_manifest`), then one regular member ``blobs/<etag>`` per distinct blob.
Export refuses a cache entry that breaks the link rule (:mod:`hubcli.cache.links`) and re-hashes
every blob as it packs it; the manifest it writes passes the importer's own validation. Import
lives in :mod:`hubcli.cache.bundle_import`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.cache.bundle_import import MANIFEST
from hubcli.cache.bundle_manifest import FORMAT, VERSION, parse_manifest, parse_tree
from hubcli.cache.clean import parse_target
from hubcli.cache.layout import RepoCache
from hubcli.cache.scan import ScannedFile, ScannedRepo, ScannedRevision, scan_cache
from hubcli.cache.verify import select_revisions
from hubcli.errors import HubError, IntegrityError, LocalFileError, NotFoundError
from hubcli.hashing import ContentHasher, HashingReader, file_digest, is_content_id, sha256_file
from hubcli.repo import display_id, is_commit_sha

__all__ = ["MANIFEST", "BundleResult", "export_bundle", "import_bundle"]


@dataclass(frozen=True)
class BundleResult:
    path: str
    repos: list[str]
    revisions: int
    files: int
    blobs: int
    bytes: int
    blobs_skipped: int = 0
    refs: int = 0
    kept: list[str] = field(default_factory=list)  # existing refs the import did not move

    def to_json(self) -> dict[str, Any]:
        return {
            "bundle": self.path,
            "repos": self.repos,
            "revisions": self.revisions,
            "files": self.files,
            "blobs": self.blobs,
            "bytes": self.bytes,
            "blobs_skipped": self.blobs_skipped,
            "refs": self.refs,
            "kept": self.kept,
        }


# -- export -----------------------------------------------------------------------------------
def _refuse_entry(repo: ScannedRepo, rev: ScannedRevision, f: ScannedFile, why: str) -> None:
    raise IntegrityError(
        f"Refusing to export {repo.display_id}@{rev.commit}/{f.path}: {why}.",
        hint="Run `hubcli cache verify` / `hubcli cache repair` first.",
    )


def _file_etag(
    repo: ScannedRepo, rev: ScannedRevision, f: ScannedFile, tree: dict[str, Any] | None
) -> str:
    """The content hash a snapshot file is exported under (the blob it links to; for a plain
    copy, its tree's hash, checked here, else its sha256)."""
    if f.problem is not None:
        _refuse_entry(repo, rev, f, f.problem)
    if not f.exists:
        _refuse_entry(repo, rev, f, "blob missing")
    if f.is_link and f.etag and is_content_id(f.etag):
        return f.etag
    entry = (tree or {}).get(f.path)
    want = str(entry.get("lfs_sha256") or entry["blob_id"]) if entry else None
    if want is not None:
        try:
            got = file_digest(f.blob_path, want)
        except (OSError, ValueError) as exc:
            raise LocalFileError(f"Cannot read {f.blob_path}: {exc}.") from exc
        if got != want:
            _refuse_entry(repo, rev, f, f"content hashes to {got}, its tree names {want}")
        return want
    try:
        return sha256_file(f.blob_path)
    except OSError as exc:
        raise LocalFileError(f"Cannot read {f.blob_path}: {exc.strerror or exc}.") from exc
    except ValueError as exc:  # it changed size while read
        raise LocalFileError(f"Cannot read {f.blob_path}: {exc}.") from exc


def _local_tree(rc: RepoCache, commit: str) -> dict[str, Any] | None:
    """The cached tree of ``commit``, validated as an import would (a corrupt one refuses)."""
    path = rc.tree_path(commit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFileError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    try:
        return parse_tree(json.loads(raw), str(path))
    except (ValueError, RecursionError) as exc:
        raise IntegrityError(
            f"{path} is corrupt.", hint="Remove it; the next download rewrites it."
        ) from exc


def _refuse_incomplete(repo: ScannedRepo, rev: ScannedRevision, missing: list[str]) -> None:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    raise IntegrityError(
        f"Refusing to export {display_id(repo.repo_id, repo.repo_type)}@{rev.commit}: "
        f"files of this commit are not cached (missing: {len(missing)}; {shown}); offline, "
        "huggingface_hub would raise IncompleteSnapshotError.",
        hint="Download the rest first, or pass --allow-incomplete to export what is cached.",
    )


def _collect(
    cache_dir: Path,
    targets: Iterable[str],
    repo_type: str | None,
    *,
    allow_incomplete: bool = False,
    endpoint: str | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, int]], int]:
    refs = [parse_target(t, repo_type, endpoint=endpoint) for t in targets]
    scan = scan_cache(cache_dir, only=refs)
    repos: dict[str, dict[str, Any]] = {}
    blobs: dict[str, tuple[str, int]] = {}
    n_files = 0
    for ref in refs:
        repo = scan.find(ref)
        if repo is None:
            raise NotFoundError(f"{ref} is not in the cache {cache_dir}.")
        entry = repos.setdefault(
            repo.path,
            {"repo_id": ref.repo_id, "repo_type": ref.repo_type, "refs": {}, "revisions": {}},
        )
        revs = select_revisions(repo, ref.revision)
        commits = {r.commit for r in revs}
        for name, commit in repo.refs.items():
            if commit in commits and is_commit_sha(commit):
                entry["refs"][name] = commit
        rc = RepoCache(Path(cache_dir), repo.ref)
        for rev in revs:
            if not is_commit_sha(rev.commit):
                raise IntegrityError(
                    f"{repo.display_id}: snapshot folder {rev.commit[:80]!r} is not a commit id."
                )
            tree = _local_tree(rc, rev.commit)
            if tree is not None and not allow_incomplete:
                have = {f.path for f in rev.files}
                missing = sorted(p for p in tree if p not in have)
                if missing:
                    _refuse_incomplete(repo, rev, missing)
            files: dict[str, str] = {}
            for f in rev.files:
                etag = _file_etag(repo, rev, f, tree)
                files[f.path] = etag
                blobs.setdefault(etag, (f.blob_path, _size_of(f.blob_path)))
                n_files += 1
            entry["revisions"][rev.commit] = {
                "files": files,
                "tree": {"format_version": 1, "files": tree} if tree is not None else None,
            }
    return repos, blobs, n_files


def _size_of(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise LocalFileError(f"Cannot read {path}: {exc.strerror or exc}.") from exc


def export_bundle(
    cache_dir: Path,
    targets: Iterable[str],
    output: Path,
    *,
    repo_type: str | None = None,
    allow_incomplete: bool = False,
    endpoint: str | None = None,
) -> BundleResult:
    """Write ``output`` (tar, gzip when it ends in .gz/.tgz) with the named repos / revisions.

    Raises NotFoundError for anything not cached, IntegrityError when an entry breaks the link
    rule, a blob is missing or its content does not match its name, or (unless
    ``allow_incomplete``) a revision lacks files its cached ``trees/<commit>.json`` lists (no
    bundle is left behind).
    """
    repos, blobs, n_files = _collect(
        cache_dir, targets, repo_type, allow_incomplete=allow_incomplete, endpoint=endpoint
    )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "blobs": {e: s for e, (_p, s) in sorted(blobs.items())},
        "repos": list(repos.values()),
    }
    data = json.dumps(manifest, indent=1).encode()
    try:
        parse_manifest(data)  # never write a bundle the importer would refuse
    except HubError as exc:
        raise IntegrityError(f"Cannot export: {exc}") from exc
    total = _write_tar(Path(output), data, blobs)
    return BundleResult(
        path=str(output),
        repos=[display_id(r["repo_id"], r["repo_type"]) for r in repos.values()],
        revisions=sum(len(r["revisions"]) for r in repos.values()),
        files=n_files,
        blobs=len(blobs),
        bytes=total,
        refs=sum(len(r["refs"]) for r in repos.values()),
    )


def _write_tar(output: Path, manifest: bytes, blobs: dict[str, tuple[str, int]]) -> int:
    mode = "w:gz" if output.name.endswith((".gz", ".tgz")) else "w"
    tmp = output.with_name(f".{output.name}.{os.urandom(4).hex()}.tmp")
    total = 0
    try:
        with tarfile.open(tmp, mode) as tf:  # type: ignore[call-overload]
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            info.mtime = int(time.time())
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(manifest))
            for etag, (path, size) in sorted(blobs.items()):
                total += _add_blob(tf, etag, path, size)
        os.replace(tmp, output)
    except OSError as exc:
        raise LocalFileError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return total


def _add_blob(tf: tarfile.TarFile, etag: str, path: str, size: int) -> int:
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_size != size:
            raise IntegrityError(f"Blob {path} changed size while exporting.")
        info = tarfile.TarInfo(f"blobs/{etag}")
        info.size = size
        info.mode = 0o644
        info.mtime = int(st.st_mtime)
        reader = HashingReader(fh, ContentHasher(etag, size, what="blob", error=IntegrityError))
        tf.addfile(info, reader)  # type: ignore[arg-type]
        if not reader.hasher.matches():
            raise IntegrityError(
                f"Blob {path} does not match its name {etag}.",
                hint="Run `hubcli cache verify` / `hubcli cache repair` first.",
            )
    return size


# -- import -----------------------------------------------------------------------------------
def import_bundle(cache_dir: Path, bundle: Path, *, partials: str = "auto") -> BundleResult:
    """Verify a whole bundle, then merge it into ``cache_dir``, all or nothing (see
    :mod:`hubcli.cache.bundle_import`). Raises IntegrityError / UnsafePathError (exit 6) for hostile
    or corrupt bundles and contradictions with the cache, LocalFileError (exit 8) for a missing
    bundle or a local I/O failure; in every case the cache is left as it was. ``partials``: the
    ``HUBCLI_PARTIALS`` setting (blob partials are process-unique where it says so)."""
    from hubcli.cache.bundle_import import import_into

    manifest, res = import_into(Path(cache_dir), Path(bundle), partials=partials)
    return BundleResult(
        path=str(bundle),
        repos=[str(p.ref) for p in manifest.repos],
        revisions=sum(len(p.revisions) for p in manifest.repos),
        files=res.files,
        blobs=res.blobs_added,
        bytes=res.bytes_added,
        blobs_skipped=len(manifest.blobs) - res.blobs_added,
        refs=res.refs,
        kept=res.kept,
    )
