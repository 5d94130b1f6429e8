"""The records of the local hub's storage: a file entry, a commit (with its folder view), a repo
and one commit operation. Plain values; the stores that read and write them are in ``blobs`` and
``storage``."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubcli.server.ids import EMPTY_TREE_OID


@dataclass
class Entry:
    size: int
    oid: str  # git blob sha1 (of the LFS pointer for LFS files)
    sha256: str | None = None  # set for LFS files

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None


@dataclass
class Commit:
    id: str
    parents: list[str]
    author: str
    title: str
    message: str
    date: str
    tree: dict[str, Entry]
    _dirs: dict[str, list[str]] | None = field(default=None, repr=False)
    _dir_oids: dict[str, str] | None = field(default=None, repr=False)

    def dirs(self) -> dict[str, list[str]]:
        """Map each directory ("" = root) to its sorted direct children (full paths)."""
        if self._dirs is None:
            children: dict[str, set[str]] = {"": set()}
            for path in self.tree:
                parent = ""
                segs = path.split("/")
                for i in range(len(segs)):
                    full = "/".join(segs[: i + 1])
                    children.setdefault(parent, set()).add(full)
                    if i < len(segs) - 1:
                        children.setdefault(full, set())
                    parent = full
            self._dirs = {k: sorted(v) for k, v in children.items()}
        return self._dirs

    def dir_oid(self, path: str) -> str:
        if self._dir_oids is None:
            self._dir_oids = {}
        oid = self._dir_oids.get(path)
        if oid is None:
            h = hashlib.sha1()
            for child in self.dirs().get(path, []):
                ent = self.tree.get(child)
                h.update(
                    child.encode() + b"\0" + (ent.oid if ent else self.dir_oid(child)).encode()
                )
            oid = h.hexdigest() if self.dirs().get(path) else EMPTY_TREE_OID
            self._dir_oids[path] = oid
        return oid


@dataclass
class Repo:
    type: str
    id: str
    path: Path
    meta: dict[str, Any]
    refs: dict[str, dict[str, str]]
    lock: threading.RLock = field(default_factory=threading.RLock)
    lfs_index: dict[str, int] | None = field(default=None, repr=False)
    version: str | None = field(default=None, repr=False)  # ETag of the stored document (S3)

    @property
    def key(self) -> str:
        """``{type}/{namespace}/{name}``: names the repo in signed CDN URLs."""
        return f"{self.type}/{self.id}"

    @property
    def namespace(self) -> str:
        return self.id.split("/")[0]

    @property
    def prefix(self) -> str:
        return "" if self.type == "model" else f"{self.type}s/"


@dataclass
class FileOp:
    """One operation of a commit: add (content in the blob store) or delete (file or folder)."""

    kind: str  # "add" | "delete_file" | "delete_folder"
    path: str
    entry: Entry | None = None
