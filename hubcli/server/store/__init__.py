"""Storage backends of ``hubcli serve``, chosen by a URL (``--storage``):

* ``file://DIR`` (or a plain path; ``--root DIR`` is the same): ``hubcli.server.storage.Storage``;
* ``s3://bucket/prefix``: ``hubcli.server.store.s3.S3Storage`` (``--s3-endpoint`` for MinIO,
  Ceph RGW, R2...; boto3 is imported only then).

The interface both implement is ``hubcli.server.store.base.RepoStore``; docs/storage.md.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from hubcli.server.storage import Storage
    from hubcli.server.store.base import RepoStore
    from hubcli.server.store.s3 import S3Storage

    def _conform(a: Storage, b: S3Storage) -> tuple[RepoStore, RepoStore]:
        """mypy checks that both stores implement the interface."""
        return a, b


@dataclass
class StorageUrl:
    scheme: str  # "file" | "s3"
    path: str  # the directory (file) or the key prefix (s3)
    bucket: str = ""

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.path}".rstrip("/")
        return f"file://{self.path}"


def parse_storage_url(url: str) -> StorageUrl:
    """``file://DIR``, a plain directory, or ``s3://bucket[/prefix]``; ``ValueError`` else."""
    if "://" not in url:
        return StorageUrl("file", url)
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = (parts.netloc + parts.path) if parts.netloc not in ("", "localhost") else parts.path
        if not path:
            raise ValueError(f"--storage: no directory in {url!r}")
        return StorageUrl("file", path)
    if parts.scheme == "s3":
        if not parts.netloc or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"--storage expects s3://bucket/prefix, got {url!r}")
        return StorageUrl("s3", parts.path.strip("/"), parts.netloc)
    raise ValueError(f"--storage expects file://DIR or s3://bucket/prefix, got {url!r}")


def open_storage(
    url: StorageUrl,
    *,
    work_dir: Path | None = None,
    s3_endpoint: str | None = None,
    presign: bool = False,
    url_ttl: int = 3600,
    single_replica: bool = False,
) -> Storage:
    """The store ``url`` names (an ``S3Storage`` is a ``Storage`` too: see its docstring)."""
    if url.scheme == "file":
        from hubcli.server.storage import Storage

        return Storage(Path(url.path))
    from hubcli.server.store.s3 import S3Storage  # boto3 only for S3 storage
    from hubcli.server.store.s3client import S3Client

    client = S3Client(url.bucket, url.path, endpoint_url=s3_endpoint)
    work = work_dir or Path(tempfile.mkdtemp(prefix="hubcli-serve-s3-"))
    return S3Storage(client, work, presign=presign, url_ttl=url_ttl, single_replica=single_replica)
