"""The storage interface of ``hubcli serve``: what the endpoints ask of a store.

Two implementations: ``hubcli.server.storage.Storage`` (``file://DIR``, the on-disk layout of
docs/server.md) and ``hubcli.server.store.s3.S3Storage`` (``s3://bucket/prefix``, docs/storage.md).
A store owns repos (their metadata and refs), immutable commits (each with its full tree), the
content-addressed blobs (git blobs by sha1, LFS objects by sha256), the per-repo LFS index and the
possession grants. Refs change by compare-and-swap, so several replicas may share one store.

``root`` is a local directory in both: the store itself for ``file://``, a scratch directory
(open multipart upload sessions, staged commit files) for object stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from hubcli.server.ids import git_blob_sha1, lfs_pointer
from hubcli.server.records import Commit, Entry, FileOp, Repo

ANY = "*"  # set_ref: no expectation about the ref's current value


def lfs_entry(sha256: str, size: int) -> Entry:
    """The tree entry of an LFS object (its oid is the git sha1 of the pointer file)."""
    return Entry(size=size, oid=git_blob_sha1(lfs_pointer(sha256, size)), sha256=sha256)


class SharedUploads(Protocol):
    """LFS upload sessions kept in the store itself (object stores): any replica serves any of
    their URLs, and a multipart upload's parts go straight into the store's own multipart
    upload (``hubcli.server.store.s3uploads``). File stores keep sessions on the server's disk
    (``hubcli.server.uploads``) and have none."""

    def chunk_size(self, size: int, wanted: int) -> int: ...
    def open(self, user: str | None, oid: str, size: int, chunk: int | None) -> str: ...
    def session(self, uid: str, *, fresh: bool = False) -> dict[str, Any] | None: ...
    def part_urls(self, uid: str) -> list[str] | None: ...
    def put_part(self, uid: str, n: int, data: bytes) -> str: ...
    def complete(self, uid: str, parts: dict[int, str]) -> None: ...


class RepoStore(Protocol):
    """What a storage backend offers the server (all methods are thread-safe)."""

    root: Path
    url: str  # the storage URL, for messages (never holds credentials)
    shared: bool  # safe for several replicas (conditional writes available)
    uploads_in_store: SharedUploads | None  # upload sessions in the store, or on local disk

    # ---------------------------------------------------------------- repos
    def get_repo(self, repo_type: str, repo_id: str) -> Repo | None: ...
    def list_repos(self, repo_type: str) -> list[Repo]: ...
    def create_repo(self, repo_type: str, repo_id: str, meta: dict[str, Any]) -> Repo: ...
    def save_meta(self, repo: Repo) -> None: ...
    def delete_repo(self, repo: Repo) -> None: ...
    def move_repo(self, repo: Repo, new_id: str) -> Repo: ...

    # ---------------------------------------------------------------- commits and refs
    def get_commit(self, repo: Repo, sha: str) -> Commit | None: ...
    def resolve_rev(self, repo: Repo, rev: str) -> str | None: ...
    def branch_of(self, repo: Repo, rev: str) -> tuple[str, str] | None: ...
    def commit(
        self,
        repo: Repo,
        branch: str,
        ops: list[FileOp],
        *,
        author: str,
        title: str,
        message: str = "",
        parent_commit: str | None = None,
        create_pr: bool = False,
        date: float | None = None,
    ) -> tuple[Commit, int | None]: ...
    def set_ref(
        self, repo: Repo, kind: str, name: str, sha: str | None, *, expect: str | None = ANY
    ) -> None:
        """Set (``sha``) or delete (None) a ref; ``expect`` (None: must not exist, a sha: must
        point there) makes it a compare-and-swap, a mismatch is ``StorageError(409)``."""
        ...

    def history(self, repo: Repo, sha: str, limit: int = 100000) -> list[Commit]: ...
    def open_pr(self, repo: Repo, info: dict[str, Any], head: str) -> int:
        """Open a pull request at ``head``: take the next PR number, record ``info`` and set
        ``refs/pr/<n>``, in one update (compare-and-swap: numbers are unique across replicas)."""
        ...

    def commit_ids(self, repo: Repo) -> list[str]:
        """Every commit stored for ``repo`` (reachable or not): what a migration copies."""
        ...

    def import_commit(self, repo: Repo, body: dict[str, Any]) -> None:
        """Store a commit body as it is (its blobs must be stored; idempotent; refs unchanged)."""
        ...

    # ---------------------------------------------------------------- LFS objects and grants
    def repo_lfs_size(self, repo: Repo, sha256: str, user: str | None = None) -> int | None: ...
    def has_lfs(self, sha256: str, size: int | None = None) -> bool: ...
    def grant_lfs(self, user: str | None, sha256: str, size: int) -> None: ...
    def granted_lfs_size(self, user: str | None, sha256: str) -> int | None: ...

    # ---------------------------------------------------------------- blobs
    def put_regular(self, data: bytes) -> Entry: ...
    def stage_regular(self, data: bytes) -> tuple[Entry, str | None]: ...
    def publish_regular(self, entry: Entry, tmp: str) -> None: ...
    def discard_temp(self, tmp: str) -> None: ...
    def put_lfs_bytes(self, data: bytes) -> Entry: ...
    def receive_lfs(self, sha256: str, size: int, chunks: Iterable[bytes]) -> None:
        """Store LFS object ``sha256`` from ``chunks``, hashed as they arrive; it becomes visible
        only if ``size`` and ``sha256`` match (else ``StorageError(400)`` and nothing is
        stored). Idempotent: an object already stored is left as it is."""
        ...

    def adopt_lfs_file(self, tmp_path: str, sha256: str) -> None: ...
    def read_blob(self, entry: Entry) -> bytes: ...
    def blob_size(self, entry: Entry) -> int | None: ...
    def local_blob_path(self, entry: Entry) -> str | None:
        """A local file holding the blob (file stores), or None (read it with ``open_blob``)."""
        ...

    def open_blob(self, entry: Entry, start: int, length: int) -> Iterator[bytes]: ...
    def presign_blob(self, entry: Entry, filename: str) -> str | None:
        """A URL of the blob on the store's own origin (no server credentials needed), or None
        when the store does not hand them out (``--presign`` off, or a file store)."""
        ...

    def close(self) -> None: ...
