"""``cache move``: move repos (or a whole cache) to another folder or filesystem.

Per repo, under every lock of the repo in the source (a running download makes the move refuse):

1. **Stage** the repo in ``<dst>/.locks/.hubcli-move/<repo folder>/`` (inside ``.locks``, which
   ``hf cache scan`` skips): each blob is copied to
   ``blobs/<etag>.part``, hashed against its name, and only then renamed to ``blobs/<etag>`` — so
   a rerun after an interruption keeps every staged blob and redoes only the one in flight. A
   blob whose content the destination already holds (another repo, or a source hardlink already
   moved) is hardlinked, never copied twice: dedup survives the move. A repo blob that links into
   huggingface_hub's shared store is moved into the destination's shared store (same entry name,
   the payload hashed against the repo blob's sha256) and linked from there, as hf does.
   Snapshots are rebuilt as ``../../blobs/<etag>`` links (plain copies stay plain copies), refs,
   trees, ``.no_exist`` markers and hubcli's access records are copied.
2. **Publish** with one rename of the complete folder into ``<dst>`` (nothing half-moved is ever
   visible), then remove the source repo. A rerun that finds the repo published already (the
   source was not removed yet) checks the two are the same and finishes the removal.

An entry breaking the link rule (see :mod:`hubcli.cache.links`) refuses the repo (exit 6).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.cache.access import access_dir
from hubcli.cache.clean import _repo_locks_free
from hubcli.cache.layout import ensure_cachedir_tag, parse_repo_folder
from hubcli.cache.links import SHARED_STORE_LAYOUT, SHARED_STORE_MARKER, shared_store
from hubcli.cache.records import ScannedRepo
from hubcli.cache.scan import scan_cache, scan_repo
from hubcli.errors import IntegrityError, LocalFileError, NotFoundError, UsageError
from hubcli.hashing import verify_file
from hubcli.repo import RepoRef

STAGING = ".locks/.hubcli-move"
_CHUNK = 1 << 20


@dataclass
class MoveResult:
    source: str
    destination: str
    repos: list[str] = field(default_factory=list)
    blobs_copied: int = 0
    blobs_linked: int = 0
    bytes_copied: int = 0
    resumed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "repos": self.repos,
            "blobs_copied": self.blobs_copied,
            "blobs_linked": self.blobs_linked,
            "bytes_copied": self.bytes_copied,
            "blobs_resumed": self.resumed,
            "hf_hub_cache": self.destination,
        }


def _copy(src: str, dst: str) -> int:
    """Copy ``src`` to ``dst`` (created, fsync'ed); return the bytes copied."""
    n = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            n += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(src, dst)
    return n


class _Mover:
    def __init__(self, src: Path, dst: Path) -> None:
        self.src = src
        self.dst = dst
        self.result = MoveResult(str(src), str(dst))
        self.src_store = shared_store(src)
        # etag -> a verified file in the destination holding those bytes (to hardlink)
        self.have: dict[str, str] = {}
        for repo in scan_cache(dst, detail=False).repos:
            for etag, blob in repo.blobs.items():
                if blob.exists and not blob.shared and blob.problem is None:
                    self.have.setdefault(etag, blob.path)

    def _place(self, src_path: str, etag: str, final: str, size: int) -> None:
        """``final`` holds a verified copy (or hardlink) of ``src_path`` once this returns."""
        if os.path.lexists(final):
            self.result.resumed += 1
            self.have.setdefault(etag, final)
            return
        part = final + ".part"
        known = self.have.get(etag)
        if known is not None and os.path.isfile(known):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            try:
                os.link(known, part)
                os.replace(part, final)
                self.result.blobs_linked += 1
                return
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(part)
        copied = _copy(src_path, part)
        if not verify_file(part, etag, size=size):
            os.unlink(part)
            raise IntegrityError(
                f"{src_path} does not hash to its name {etag}: not moved (run `hubcli cache "
                "verify` / `cache repair` on the source first)."
            )
        os.replace(part, final)
        self.have[etag] = final
        self.result.blobs_copied += 1
        self.result.bytes_copied += copied

    def _store_blob(self, payload: str, etag: str, repo_folder: str, size: int) -> str:
        """Move a shared-store payload into the destination's store; return the link target."""
        assert self.src_store is not None
        rel = os.path.relpath(payload, self.src_store)
        store = self.dst / "blobs"
        store.mkdir(parents=True, exist_ok=True)
        marker = store / SHARED_STORE_MARKER
        if not marker.exists():
            marker.write_text(SHARED_STORE_LAYOUT)
        final = store / rel
        final.parent.mkdir(parents=True, exist_ok=True)
        self._place(payload, etag, str(final), size)
        os.chmod(final, 0o444)
        refs = str(final) + ".refs"
        line = f"{repo_folder}/blobs/{etag}\n"
        existing = Path(refs).read_text() if os.path.exists(refs) else ""
        if line not in existing:
            with open(refs, "a") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return os.path.join("..", "..", "blobs", rel)

    def _stage(self, repo: ScannedRepo, stage: Path) -> None:
        folder = os.path.basename(repo.path)
        (stage / "blobs").mkdir(parents=True, exist_ok=True)
        for rev in repo.revisions:
            for f in rev.files:
                if f.problem is not None:
                    raise IntegrityError(
                        f"{f.snapshot_path}: {f.problem}; not moved (see `hubcli cache verify`)."
                    )
        for etag, blob in sorted(repo.blobs.items()):
            if blob.problem is not None:
                raise IntegrityError(f"{blob.path}: {blob.problem}; not moved.")
            if not blob.exists:
                continue
            final = stage / "blobs" / etag
            real = os.path.realpath(blob.path)
            in_store = (
                blob.shared
                and self.src_store is not None
                and real.startswith(self.src_store + os.sep)
                and len(etag) == 64
            )
            if in_store:
                target = self._store_blob(real, etag, folder, blob.size)
                if not os.path.lexists(final):
                    os.symlink(target, final)
                continue
            self._place(real, etag, str(final), blob.size)
        for rev in repo.revisions:
            snap = stage / "snapshots" / rev.commit
            for f in rev.files:
                dest = snap.joinpath(*f.path.split("/"))
                if os.path.lexists(dest):
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if f.is_link and f.etag is not None:
                    rel = os.path.relpath(stage / "blobs" / f.etag, dest.parent)
                    os.symlink(rel, dest)
                elif not f.is_link and f.exists:
                    _copy(f.snapshot_path, str(dest) + ".part")
                    os.replace(str(dest) + ".part", dest)
            snap.mkdir(parents=True, exist_ok=True)
        for sub in ("refs", "trees", ".no_exist"):
            src = Path(repo.path) / sub
            if src.is_dir() and not src.is_symlink() and not (stage / sub).exists():
                shutil.copytree(src, str(stage / sub) + ".part", symlinks=True)
                os.replace(str(stage / sub) + ".part", stage / sub)

    def move_repo(self, repo: ScannedRepo) -> None:
        folder = os.path.basename(repo.path)
        published = self.dst / folder
        stage = self.dst / STAGING / folder
        with ExitStack() as stack:
            if not _repo_locks_free(self.src, repo.ref, stack):
                raise LocalFileError(
                    f"A download is running in {repo.display_id} ({repo.path}): nothing of it "
                    "was moved; rerun `hubcli cache move` when it is done."
                )
            if published.exists():
                there = scan_repo(published, repo.ref)
                if there is None or _inventory(there) != _inventory(repo):
                    raise UsageError(
                        f"{repo.display_id} is already in {self.dst} with other content: not "
                        "moved (merge with `hubcli cache export` / `cache import`)."
                    )
            else:
                self._stage(repo, stage)
                records = access_dir(self.src, folder)
                if os.path.isdir(records):
                    target = access_dir(self.dst, folder)
                    Path(target).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copytree(records, target, dirs_exist_ok=True)
                os.rename(stage, published)
                prefix = str(stage) + os.sep
                for etag, path in list(self.have.items()):  # later repos link the published copy
                    if path.startswith(prefix):
                        self.have[etag] = os.path.join(published, path[len(prefix) :])
            shutil.rmtree(repo.path)
        self.result.repos.append(repo.display_id)


def _inventory(repo: ScannedRepo) -> set[tuple[str, str, str | None]]:
    return {(rev.commit, f.path, f.etag) for rev in repo.revisions for f in rev.files}


def move_cache(
    src: Path, dst: Path, *, repos: list[RepoRef] | None = None, tiers: tuple[Path, ...] = ()
) -> MoveResult:
    """Move every repo of the cache ``src`` (or only ``repos``) into the cache ``dst``."""
    src, dst = Path(src).absolute(), Path(dst).absolute()
    if not src.is_dir():
        raise NotFoundError(f"No cache at {src}.")
    if os.path.realpath(src) == os.path.realpath(dst):
        raise UsageError("The source and destination are the same folder.")
    if os.path.realpath(dst).startswith(os.path.realpath(src) + os.sep):
        raise UsageError(f"{dst} is inside the cache {src}: move it elsewhere.")
    scan = scan_cache(src, only=repos, tiers=tiers)
    if repos:
        for ref in repos:
            if scan.find(ref) is None:
                raise NotFoundError(f"{ref} is not in the cache {src}.")
    dst.mkdir(parents=True, exist_ok=True)
    ensure_cachedir_tag(dst)
    mover = _Mover(src, dst)
    try:
        for repo in scan.repos:
            if parse_repo_folder(os.path.basename(repo.path)) is None:
                continue
            mover.move_repo(repo)
    except OSError as exc:
        raise LocalFileError(
            f"Cannot move into {dst}: {exc.strerror or exc}. Rerun the same command to resume."
        ) from exc
    for folder in (dst / STAGING, (dst / STAGING).parent):  # only when empty
        with contextlib.suppress(OSError):
            folder.rmdir()
    return mover.result
