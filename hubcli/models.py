"""Result types: frozen dataclasses for what the Hub answers (files, repo info, commits)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hubcli.errors import HubError, ProtocolError
from hubcli.hashing import ContentId, GitSha1, Sha256, parse_git_sha1, parse_sha256
from hubcli.repo import validate_repo_path

MAX_FILE_SIZE = 1 << 50
"""1 PiB: no Hub file comes near it; anything larger in a listing is a protocol violation."""


def parse_size(value: object, *, what: str, error: type[HubError] = ProtocolError) -> int:
    """A byte count from JSON: a non-negative integer (not a bool, float or string)."""
    if type(value) is not int or not 0 <= value <= MAX_FILE_SIZE:
        raise error(f"{what}: the server sent an invalid size {repr(value)[:40]}.")
    return value


def parse_path(value: object, *, what: str, error: type[HubError] = ProtocolError) -> str:
    """A repo-relative file path from the network, validated (no '..', absolute, NUL, '\\')."""
    if not isinstance(value, str):
        raise error(f"{what}: the server sent an entry without a valid path.")
    try:
        return validate_repo_path(value)
    except HubError as exc:
        raise error(f"{what}: the server sent an unsafe path: {exc}") from None


@dataclass(frozen=True)
class FileEntry:
    """One file of a repo tree. ``etag`` is what the cache names its blob after.

    Only validated values get in: ``path`` passed the path validator, ``blob_id`` is a
    :class:`GitSha1`, ``lfs_sha256`` a :class:`Sha256`, and at least one of them is present.
    """

    path: str
    size: int
    blob_id: GitSha1 | None
    lfs_sha256: Sha256 | None = None
    lfs_size: int | None = None
    lfs_pointer_size: int | None = None
    last_commit: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.blob_id is not None and not isinstance(self.blob_id, GitSha1):
            raise TypeError("FileEntry.blob_id must be a GitSha1")
        if self.lfs_sha256 is not None and not isinstance(self.lfs_sha256, Sha256):
            raise TypeError("FileEntry.lfs_sha256 must be a Sha256")
        if self.blob_id is None and self.lfs_sha256 is None:
            raise ValueError("FileEntry needs a blob id or an LFS sha256")
        if type(self.size) is not int or self.size < 0:
            raise ValueError("FileEntry.size must be a non-negative int")

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None

    @property
    def etag(self) -> ContentId:
        if self.lfs_sha256 is not None:
            return self.lfs_sha256
        assert self.blob_id is not None
        return self.blob_id

    @classmethod
    def from_json(
        cls,
        item: object,
        *,
        path_key: str,
        oid_key: str,
        lfs_oid_key: str,
        what: str,
        error: type[HubError] = ProtocolError,
    ) -> FileEntry:
        """Build from one listing item, validating every field; ``error`` names a violation."""
        if not isinstance(item, dict):
            raise error(f"{what}: the server sent a listing entry that is not an object.")
        path = parse_path(item.get(path_key), what=what, error=error)
        where = f"{what}/{path}"
        size = parse_size(item.get("size"), what=where, error=error)  # required, as for the Hub
        raw_oid = item.get(oid_key)
        blob_id = None if raw_oid is None else parse_git_sha1(raw_oid, what=where, error=error)
        lfs = item.get("lfs")
        lfs_sha256 = lfs_size = pointer = None
        if lfs is not None:
            if not isinstance(lfs, dict):
                raise error(f"{where}: the server sent an invalid 'lfs' field.")
            lfs_sha256 = parse_sha256(lfs.get(lfs_oid_key), what=where, error=error)
            lfs_size = parse_size(lfs.get("size", size), what=where, error=error)
            if lfs_size != size:
                raise error(f"{where}: the listing gives two sizes ({size} and {lfs_size}).")
            if "pointerSize" in lfs:
                pointer = parse_size(lfs["pointerSize"], what=where, error=error)
        if blob_id is None and lfs_sha256 is None:
            raise error(f"{where}: the server sent no content hash for this file.")
        last = item.get("lastCommit")
        return cls(
            path=path,
            size=size,
            blob_id=blob_id,
            lfs_sha256=lfs_sha256,
            lfs_size=lfs_size,
            lfs_pointer_size=pointer,
            last_commit=last if isinstance(last, dict) else None,
        )

    @classmethod
    def from_tree_item(
        cls, item: object, *, what: str = "tree", error: type[HubError] = ProtocolError
    ) -> FileEntry:
        """Build from a tree/paths-info item (``path``, ``oid``, ``lfs.oid``), validated."""
        return cls.from_json(
            item, path_key="path", oid_key="oid", lfs_oid_key="oid", what=what, error=error
        )

    @classmethod
    def from_sibling(cls, item: object, *, what: str = "repo info") -> FileEntry:
        """Build from a repo-info sibling fetched with ``blobs=true``, validated."""
        return cls.from_json(
            item, path_key="rfilename", oid_key="blobId", lfs_oid_key="sha256", what=what
        )

    def to_tree_cache(self) -> dict[str, Any]:
        """The entry as huggingface_hub's ``trees/<commit>.json`` stores it."""
        out: dict[str, Any] = {"size": self.size, "blob_id": self.blob_id}
        if self.lfs_sha256:
            out["lfs_sha256"] = self.lfs_sha256
            out["lfs_size"] = self.lfs_size if self.lfs_size is not None else self.size
        return out


def check_listing(entries: Iterable[FileEntry], *, what: str) -> None:
    """Refuse a listing that cannot be a git tree: a path twice, or a file that is also a folder
    of another entry (``a`` and ``a/b``). Raises ProtocolError naming the first clash."""
    files: set[str] = set()
    for e in entries:
        if e.path in files:
            raise ProtocolError(f"{what}: the server listed {e.path!r} twice.")
        files.add(e.path)
    for path in files:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in files:
                raise ProtocolError(
                    f"{what}: the server listed {parent!r} both as a file and as a folder."
                )
            parent = parent.rpartition("/")[0]


@dataclass(frozen=True)
class DirEntry:
    path: str
    oid: str = ""
    last_commit: dict[str, Any] | None = None


def parse_siblings(data: dict[str, Any], *, what: str) -> list[FileEntry]:
    """The validated files of a repo-info answer fetched with ``blobs=true``."""
    siblings = data.get("siblings")
    if siblings is None:
        siblings = []
    if not isinstance(siblings, list):
        raise ProtocolError(f"{what}: 'siblings' in the repo info answer is not a list.")
    entries = [FileEntry.from_sibling(s, what=what) for s in siblings]
    check_listing(entries, what=what)
    return entries


def parse_tree_item(item: object, *, what: str) -> FileEntry | DirEntry:
    """One validated entry of a tree or paths-info answer."""
    if not isinstance(item, dict):
        raise ProtocolError(f"{what}: the server sent a tree entry that is not an object.")
    if item.get("type") == "directory":
        last = item.get("lastCommit")
        return DirEntry(
            path=parse_path(item.get("path"), what=what),
            oid=str(item.get("oid") or "")[:64],
            last_commit=last if isinstance(last, dict) else None,
        )
    return FileEntry.from_tree_item(item, what=what)


@dataclass(frozen=True)
class RepoInfo:
    """Repo metadata from ``/api/{types}/{id}``; ``raw`` keeps every field the server sent."""

    repo_id: str
    repo_type: str
    sha: str | None
    raw: dict[str, Any] = field(default_factory=dict)
    files: tuple[FileEntry, ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


@dataclass(frozen=True)
class CommitResult:
    commit_oid: str
    commit_url: str
    pr_url: str | None = None
    pr_revision: str | None = None
