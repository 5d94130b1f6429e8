"""Identifiers and validation: repo ids, paths inside repos, ref names, hashes, Hub dates."""

from __future__ import annotations

import hashlib
import re
import time

REPO_TYPES = ("model", "dataset", "space")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,94}[A-Za-z0-9_]$|^[A-Za-z0-9_]$")
_REF_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,199}$")
EMPTY_TREE_OID = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class StorageError(Exception):
    """Raised for invalid input detected by the storage layer (mapped to an HTTP error)."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def now_iso(ts: float | None = None) -> str:
    """Format a unix time the way the Hub does: ``YYYY-MM-DDTHH:MM:SS.fffZ``."""
    ts = time.time() if ts is None else ts
    ms = round(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(ts))) + f".{ms:03d}Z"


def git_blob_sha1(data: bytes) -> str:
    h = hashlib.sha1(f"blob {len(data)}\0".encode())
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def validate_repo_id(repo_id: str) -> tuple[str, str]:
    """Validate ``namespace/name`` (hub rules, no traversal); return the two parts."""
    parts = repo_id.split("/")
    if len(parts) != 2:
        raise StorageError(400, f"Invalid repo id: {repo_id!r}")
    for part in parts:
        if not _NAME_PART_RE.match(part) or "--" in part or ".." in part or part.endswith(".git"):
            raise StorageError(400, f"Invalid repo id: {repo_id!r}")
    return parts[0], parts[1]


def validate_path(path: str, *, allow_empty: bool = False) -> str:
    """Validate a path inside a repo; refuse traversal, absolute paths, NUL and backslashes."""
    if path.startswith("./"):
        path = path[2:]
    if path == "" and allow_empty:
        return path
    if (
        not path
        or "\0" in path
        or "\\" in path
        or path.startswith("/")
        or re.match(r"^[A-Za-z]:", path)
        or len(path) > 4096
    ):
        raise StorageError(400, f"Invalid path: {path!r}")
    for seg in path.split("/"):
        if seg in ("", ".", "..", ".git"):
            raise StorageError(400, f"Invalid path: {path!r}")
    return path


def validate_ref_name(name: str) -> str:
    if (
        not _REF_NAME_RE.match(name)
        or ".." in name
        or "//" in name
        or name.endswith("/")
        or name.endswith(".lock")
        or SHA1_RE.match(name)
    ):
        raise StorageError(400, f"Invalid reference name: {name!r}")
    return name
