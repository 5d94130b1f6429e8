"""The records a cache scan returns: blobs, files, revisions, repos and the whole scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from hubcli.repo import RepoRef

InodeKey = tuple[int, int]


class ScannedBlob(NamedTuple):
    """One entry of ``<repo>/blobs/``; ``key`` identifies the bytes on disk (after symlinks)."""

    etag: str
    path: str
    size: int
    atime: float
    mtime: float
    key: InodeKey
    nlink: int
    shared: bool = False  # a symlink into the cache-wide shared store
    exists: bool = True
    problem: str | None = None  # why the blob breaks the link rule (see cache_links)
    tier: str | None = None  # the read-only tier (its real path) holding the bytes


class ScannedFile(NamedTuple):
    """One file of a snapshot: a link to a blob (``etag`` set) or a plain copy (``etag`` None).

    ``problem`` is set when the entry breaks the link rule of :mod:`hubcli.cache.links` (a link
    leaving the repo's blobs, a blob resolving outside the cache's stores, a fifo...): such an
    entry is never followed (its ``size`` is 0)."""

    path: str
    snapshot_path: str
    etag: str | None
    blob_path: str
    size: int
    exists: bool
    is_link: bool
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ScannedRevision:
    commit: str
    path: str
    files: tuple[ScannedFile, ...]
    refs: tuple[str, ...]
    size: int
    last_modified: float
    nb_files: int = 0
    etags: frozenset[str] = frozenset()  # blobs this snapshot links to
    used: frozenset[str] = frozenset()  # distinct files on disk it uses (blobs or copies)
    tiers: dict[str, int] = field(default_factory=dict)  # bytes linked from read-only tiers


@dataclass(frozen=True, slots=True)
class ScannedRepo:
    """One repo folder: its revisions, refs (name -> commit), blobs and in-flight downloads."""

    ref: RepoRef
    path: str
    revisions: tuple[ScannedRevision, ...]
    refs: dict[str, str]
    blobs: dict[str, ScannedBlob]
    incomplete: tuple[tuple[str, int, float], ...]
    size: int
    last_accessed: float
    last_modified: float
    inodes: dict[InodeKey, int] = field(default_factory=dict, repr=False)
    # Bytes the repo links from read-only tiers (tier -> bytes, each tier blob once): not on
    # the writable cache's disk, so not in ``size``.
    tiers: dict[str, int] = field(default_factory=dict)

    @property
    def repo_id(self) -> str:
        return self.ref.repo_id

    @property
    def repo_type(self) -> str:
        return self.ref.repo_type

    @property
    def nb_files(self) -> int:
        """Distinct files on disk used by the snapshots (as huggingface_hub counts them)."""
        if len(self.revisions) == 1:
            return len(self.revisions[0].used)
        return len(frozenset().union(*(r.used for r in self.revisions)))

    @property
    def display_id(self) -> str:
        """The Hub form (``org/x``, ``datasets/org/y``): what every cache command accepts."""
        return str(self.ref)

    def referenced_etags(self) -> set[str]:
        return set().union(*(r.etags for r in self.revisions))

    def unreferenced_blobs(self) -> list[ScannedBlob]:
        used = self.referenced_etags()
        return [b for e, b in self.blobs.items() if e not in used]

    def revision(self, commit: str) -> ScannedRevision | None:
        for rev in self.revisions:
            if rev.commit == commit:
                return rev
        return None


@dataclass(slots=True)
class CacheScan:
    """The whole cache. ``size`` counts every inode once across repos; ``shared`` is the bytes
    that more than one repo points at (hardlinks or shared payloads)."""

    cache_dir: str
    repos: list[ScannedRepo] = field(default_factory=list)
    size: int = 0
    shared: int = 0
    incomplete: list[tuple[str, int, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tiers: dict[str, int] = field(default_factory=dict)  # tier -> bytes linked from it

    @property
    def tier_size(self) -> int:
        return sum(self.tiers.values())

    def find(self, ref: RepoRef) -> ScannedRepo | None:
        for repo in self.repos:
            if repo.ref.repo_id == ref.repo_id and repo.ref.repo_type == ref.repo_type:
                return repo
        return None
