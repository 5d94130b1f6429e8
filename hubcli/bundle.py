"""Cache bundles: a tar of repos (blobs once + a manifest of snapshots, refs and trees) to move
cached repos to another machine, and its safe, verifying, merging import.

Bundle layout (tar, optionally gzip): first member ``hubcli-bundle.json`` (the manifest), then one
regular member ``blobs/<etag>`` per distinct blob. Import accepts nothing else: no links, no
devices, no other names; every blob is hashed against its name in a temp dir inside the cache before
anything becomes visible, then placed with atomic renames (blobs, then snapshot links, trees, and
refs last).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hubcli.cache import RepoCache, atomic_write_text
from hubcli.cache_clean import parse_target
from hubcli.cache_ops import new_hasher, select_revisions
from hubcli.cache_scan import HEX40, is_hash_name, scan_cache
from hubcli.errors import IntegrityError, LocalFileError, NotFoundError, UnsafePathError
from hubcli.repo import RepoRef, normalize_repo_type, validate_repo_id, validate_repo_path

MANIFEST = "hubcli-bundle.json"
FORMAT = "hubcli-bundle"
VERSION = 1
MAX_MANIFEST = 64 << 20
CHUNK = 1 << 20


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
        }


class _HashingReader:
    """File wrapper that hashes what tarfile reads, so export verifies blobs as it copies them."""

    def __init__(self, fh: IO[bytes], etag: str, size: int) -> None:
        self.fh = fh
        self.hasher = new_hasher(etag)
        if HEX40.match(etag):
            self.hasher.update(b"blob %d\0" % size)

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.hasher.update(data)
        return data


# -- export -----------------------------------------------------------------------------------
def export_bundle(
    cache_dir: Path,
    targets: Iterable[str],
    output: Path,
    *,
    repo_type: str | None = None,
) -> BundleResult:
    """Write ``output`` (tar, gzip when it ends in .gz/.tgz) with the named repos / revisions.

    Raises NotFoundError for anything not cached, IntegrityError when a blob is missing or its
    content does not match its name (the partial bundle is removed).
    """
    refs = [parse_target(t, repo_type) for t in targets]
    scan = scan_cache(cache_dir, only=refs)
    repos: dict[str, dict[str, Any]] = {}
    blobs: dict[str, tuple[str, int]] = {}
    n_files = 0
    for ref in refs:
        repo = scan.find(ref)
        if repo is None:
            raise NotFoundError(f"{ref.repo_type}/{ref.repo_id} is not in the cache {cache_dir}.")
        entry = repos.setdefault(
            repo.path,
            {"repo_id": ref.repo_id, "repo_type": ref.repo_type, "refs": {}, "revisions": {}},
        )
        revs = select_revisions(repo, ref.revision)
        commits = {r.commit for r in revs}
        for name, commit in repo.refs.items():
            if commit in commits and HEX40.match(commit):
                entry["refs"][name] = commit
        rc = RepoCache(Path(cache_dir), repo.ref)
        for rev in revs:
            files: dict[str, str] = {}
            for f in rev.files:
                if not f.exists:
                    raise IntegrityError(
                        f"{repo.display_id}@{rev.commit[:12]}/{f.path}: blob missing.",
                        hint="Run `hubcli cache repair` first.",
                    )
                etag = f.etag if (f.is_link and f.etag and is_hash_name(f.etag)) else None
                if etag is None:
                    h = hashlib.sha256()
                    with open(f.blob_path, "rb") as fh:
                        while chunk := fh.read(CHUNK):
                            h.update(chunk)
                    etag = h.hexdigest()
                files[f.path] = etag
                blobs.setdefault(etag, (f.blob_path, f.size))
                n_files += 1
            tree = rc.read_tree(rev.commit)
            entry["revisions"][rev.commit] = {
                "files": files,
                "tree": {"format_version": 1, "files": tree} if tree is not None else None,
            }
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "blobs": {e: s for e, (_p, s) in sorted(blobs.items())},
        "repos": list(repos.values()),
    }
    output = Path(output)
    mode = "w:gz" if output.name.endswith((".gz", ".tgz")) else "w"
    tmp = output.with_name(f".{output.name}.{os.urandom(4).hex()}.tmp")
    total = 0
    try:
        with tarfile.open(tmp, mode) as tf:  # type: ignore[call-overload]
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tf.addfile(info, _bytes_io(data))
            for etag, (path, _size) in sorted(blobs.items()):
                with open(path, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    info = tarfile.TarInfo(f"blobs/{etag}")
                    info.size = size
                    info.mode = 0o644
                    info.mtime = int(os.fstat(fh.fileno()).st_mtime)
                    reader = _HashingReader(fh, etag, size)
                    tf.addfile(info, reader)  # type: ignore[arg-type]
                    if reader.hasher.hexdigest() != etag:
                        raise IntegrityError(
                            f"Blob {path} does not match its name {etag}.",
                            hint="Run `hubcli cache verify` / `hubcli cache repair` first.",
                        )
                total += size
        os.replace(tmp, output)
    except OSError as exc:
        raise LocalFileError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return BundleResult(
        path=str(output),
        repos=[f"{r['repo_type']}/{r['repo_id']}" for r in repos.values()],
        revisions=sum(len(r["revisions"]) for r in repos.values()),
        files=n_files,
        blobs=len(blobs),
        bytes=total,
        refs=sum(len(r["refs"]) for r in repos.values()),
    )


def _bytes_io(data: bytes) -> IO[bytes]:
    import io

    return io.BytesIO(data)


# -- import -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RepoPlan:
    ref: RepoRef
    refs: dict[str, str]
    revisions: dict[str, dict[str, str]]
    trees: dict[str, dict[str, Any]]


def _check_hex(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_hash_name(value):
        raise IntegrityError(f"Bundle manifest: invalid {what} {str(value)[:80]!r}.")
    return value


def _parse_manifest(data: bytes) -> tuple[dict[str, int], list[_RepoPlan]]:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise IntegrityError("Bundle manifest is not valid JSON.") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise IntegrityError("Not a hubcli bundle (unknown format or version).")
    blobs_raw = doc.get("blobs")
    repos_raw = doc.get("repos")
    if not isinstance(blobs_raw, dict) or not isinstance(repos_raw, list):
        raise IntegrityError("Bundle manifest is malformed.")
    blobs: dict[str, int] = {}
    for etag, size in blobs_raw.items():
        if not isinstance(size, int) or size < 0:
            raise IntegrityError(f"Bundle manifest: bad size for blob {etag[:80]!r}.")
        blobs[_check_hex(etag, "blob name")] = size
    plans: list[_RepoPlan] = []
    for item in repos_raw:
        if not isinstance(item, dict):
            raise IntegrityError("Bundle manifest: bad repo entry.")
        try:
            ref = RepoRef(
                repo_id=validate_repo_id(str(item.get("repo_id"))),
                repo_type=normalize_repo_type(str(item.get("repo_type"))),
            )
        except Exception as exc:
            raise IntegrityError(f"Bundle manifest: {exc}") from exc
        refs: dict[str, str] = {}
        for name, commit in dict(item.get("refs") or {}).items():
            validate_repo_path(str(name))
            if not isinstance(commit, str) or not HEX40.match(commit):
                raise IntegrityError(f"Bundle manifest: ref {name!r} has a bad commit.")
            refs[str(name)] = commit
        revisions: dict[str, dict[str, str]] = {}
        trees: dict[str, dict[str, Any]] = {}
        for commit, rev in dict(item.get("revisions") or {}).items():
            if not HEX40.match(str(commit)) or not isinstance(rev, dict):
                raise IntegrityError(f"Bundle manifest: bad revision {str(commit)[:80]!r}.")
            files: dict[str, str] = {}
            for path, etag in dict(rev.get("files") or {}).items():
                validate_repo_path(str(path))
                if _check_hex(etag, "etag") not in blobs:
                    raise IntegrityError(f"Bundle manifest: {path!r} names a blob not bundled.")
                files[str(path)] = etag
            revisions[commit] = files
            tree = rev.get("tree")
            if isinstance(tree, dict) and isinstance(tree.get("files"), dict):
                trees[commit] = {"format_version": 1, "files": tree["files"]}
        for name, commit in refs.items():
            if commit not in revisions:
                raise IntegrityError(f"Bundle manifest: ref {name!r} points outside the bundle.")
        plans.append(_RepoPlan(ref, refs, revisions, trees))
    return blobs, plans


def _refuse(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} has an absolute path.")
    if ".." in name.replace("\\", "/").split("/"):
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} escapes the cache (..).")
    if member.issym() or member.islnk():
        raise UnsafePathError(
            f"Refusing bundle: member {name[:120]!r} is a link (to {member.linkname[:120]!r})."
        )
    if member.isdev() or member.isfifo():
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} is a device or fifo.")
    if not member.isreg():
        raise UnsafePathError(f"Refusing bundle: member {name[:120]!r} is not a regular file.")


def import_bundle(cache_dir: Path, bundle: Path) -> BundleResult:
    """Verify and merge a bundle into ``cache_dir``. Raises IntegrityError / UnsafePathError for
    hostile or corrupt bundles, leaving the cache untouched."""
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(cache_dir) / f".hubcli-import-{os.urandom(6).hex()}"
        staging.mkdir()
    except OSError as exc:
        raise LocalFileError(f"Cannot write into {cache_dir}: {exc.strerror or exc}.") from exc
    try:
        blobs, plans, staged, skipped = _receive(cache_dir, Path(bundle), staging)
        return _place(cache_dir, Path(bundle), blobs, plans, staged, skipped)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _receive(
    cache_dir: Path, bundle: Path, staging: Path
) -> tuple[dict[str, int], list[_RepoPlan], dict[str, Path], int]:
    blobs: dict[str, int] = {}
    plans: list[_RepoPlan] = []
    staged: dict[str, Path] = {}
    received: set[str] = set()
    skipped = 0
    try:
        tf = tarfile.open(bundle, mode="r|*")  # noqa: SIM115 - closed by the `with` below
    except (OSError, tarfile.TarError) as exc:
        raise IntegrityError(f"Cannot read bundle {bundle}: {exc}.") from exc
    with tf:
        try:
            for index, member in enumerate(tf):
                _refuse(member)
                if index == 0:
                    if member.name != MANIFEST or member.size > MAX_MANIFEST:
                        raise IntegrityError(f"Not a hubcli bundle: {bundle} has no manifest.")
                    fh = tf.extractfile(member)
                    assert fh is not None
                    blobs, plans = _parse_manifest(fh.read())
                    continue
                kind, _, etag = member.name.partition("/")
                if kind != "blobs" or etag not in blobs or etag in received:
                    raise UnsafePathError(
                        f"Refusing bundle: unexpected member {member.name[:120]!r}."
                    )
                if member.size != blobs[etag]:
                    raise IntegrityError(f"Bundle blob {etag} has the wrong size.")
                received.add(etag)
                needed = any(
                    not RepoCache(cache_dir, p.ref).blob_path(etag).is_file()
                    for p in plans
                    if any(etag in files.values() for files in p.revisions.values())
                )
                src = tf.extractfile(member)
                assert src is not None
                hasher = new_hasher(etag)
                if HEX40.match(etag):
                    hasher.update(b"blob %d\0" % member.size)
                dest = staging / etag
                out = open(dest, "wb") if needed else None  # noqa: SIM115
                try:
                    while chunk := src.read(CHUNK):
                        hasher.update(chunk)
                        if out is not None:
                            out.write(chunk)
                finally:
                    if out is not None:
                        out.close()
                if hasher.hexdigest() != etag:
                    raise IntegrityError(
                        f"Refusing bundle: blob {etag} does not match its hash "
                        f"(got {hasher.hexdigest()})."
                    )
                if needed:
                    staged[etag] = dest
                else:
                    skipped += 1
        except tarfile.TarError as exc:
            raise IntegrityError(f"Bundle {bundle} is damaged: {exc}.") from exc
        except OSError as exc:
            raise LocalFileError(f"Cannot import {bundle}: {exc.strerror or exc}.") from exc
    if not plans and not blobs:
        raise IntegrityError(f"Not a hubcli bundle: {bundle} is empty.")
    for p in plans:
        rc = RepoCache(cache_dir, p.ref)
        for files in p.revisions.values():
            for etag in files.values():
                if etag not in received and not rc.blob_path(etag).is_file():
                    raise IntegrityError(f"Refusing bundle: blob {etag} is missing from it.")
    return blobs, plans, staged, skipped


def _place(
    cache_dir: Path,
    bundle: Path,
    blobs: dict[str, int],
    plans: list[_RepoPlan],
    staged: dict[str, Path],
    skipped: int,
) -> BundleResult:
    placed: dict[str, Path] = {}
    added = 0
    added_bytes = 0
    n_files = 0
    n_refs = 0
    try:
        for p in plans:
            rc = RepoCache(cache_dir, p.ref)
            rc.ensure_dirs()
            needed = {e for files in p.revisions.values() for e in files.values()}
            for etag in sorted(needed):
                target = rc.blob_path(etag)
                with rc.lock(etag, timeout=60):
                    if target.is_file():
                        continue
                    tmp = target.with_name(f"{etag}.{os.urandom(4).hex()}.import")
                    if etag in placed:
                        try:
                            os.link(placed[etag], tmp)
                        except OSError:
                            shutil.copyfile(placed[etag], tmp)
                        os.replace(tmp, target)
                    elif etag in staged:
                        os.replace(staged[etag], target)
                        placed[etag] = target
                        added += 1
                        added_bytes += blobs.get(etag, 0)
            for commit, files in p.revisions.items():
                for path, etag in files.items():
                    n_files += 1
                    snap = rc.snapshot_file(commit, path)
                    if os.path.islink(snap) and os.path.basename(os.readlink(snap)) == etag:
                        continue
                    rc.link_snapshot(commit, path, etag)
                if commit in p.trees:
                    atomic_write_text(rc.tree_path(commit), json.dumps(p.trees[commit], indent=1))
            for name, commit in p.refs.items():
                rc.write_ref(name, commit)
                n_refs += 1
    except OSError as exc:
        raise LocalFileError(f"Cannot place imported files: {exc.strerror or exc}.") from exc
    return BundleResult(
        path=str(bundle),
        repos=[f"{p.ref.repo_type}/{p.ref.repo_id}" for p in plans],
        revisions=sum(len(p.revisions) for p in plans),
        files=n_files,
        blobs=added,
        bytes=added_bytes,
        blobs_skipped=len(blobs) - added,
        refs=n_refs,
    )
