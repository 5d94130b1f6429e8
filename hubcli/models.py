"""Result types: frozen dataclasses for what the Hub answers (files, repo info, commits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubcli.repo import validate_repo_path


@dataclass(frozen=True)
class FileEntry:
    """One file of a repo tree. ``etag`` is what the cache names its blob after."""

    path: str
    size: int
    blob_id: str
    lfs_sha256: str | None = None
    lfs_size: int | None = None
    lfs_pointer_size: int | None = None
    last_commit: dict[str, Any] | None = None

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None

    @property
    def etag(self) -> str:
        return self.lfs_sha256 or self.blob_id

    @classmethod
    def from_tree_item(cls, item: dict[str, Any]) -> FileEntry:
        """Build from a tree/paths-info item; the path is validated before anything trusts it."""
        lfs = item.get("lfs") or None
        return cls(
            path=validate_repo_path(str(item["path"])),
            size=int(item.get("size") or 0),
            blob_id=str(item.get("oid") or ""),
            lfs_sha256=str(lfs["oid"]) if lfs else None,
            lfs_size=int(lfs.get("size", item.get("size") or 0)) if lfs else None,
            lfs_pointer_size=int(lfs["pointerSize"]) if lfs and "pointerSize" in lfs else None,
            last_commit=item.get("lastCommit"),
        )

    @classmethod
    def from_sibling(cls, item: dict[str, Any]) -> FileEntry:
        """Build from a repo-info sibling fetched with ``blobs=true``."""
        lfs = item.get("lfs") or None
        return cls(
            path=validate_repo_path(str(item["rfilename"])),
            size=int(item.get("size") or 0),
            blob_id=str(item.get("blobId") or ""),
            lfs_sha256=str(lfs["sha256"]) if lfs else None,
            lfs_size=int(lfs.get("size", item.get("size") or 0)) if lfs else None,
            lfs_pointer_size=int(lfs["pointerSize"]) if lfs and "pointerSize" in lfs else None,
        )

    def to_tree_cache(self) -> dict[str, Any]:
        """The entry as huggingface_hub's ``trees/<commit>.json`` stores it."""
        out: dict[str, Any] = {"size": self.size, "blob_id": self.blob_id}
        if self.lfs_sha256:
            out["lfs_sha256"] = self.lfs_sha256
            out["lfs_size"] = self.lfs_size if self.lfs_size is not None else self.size
        return out


@dataclass(frozen=True)
class DirEntry:
    path: str
    oid: str = ""
    last_commit: dict[str, Any] | None = None


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
