"""What an upload reports: one :class:`FileResult` per file and the :class:`UploadResult`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FileResult", "UploadMode", "UploadResult", "UploadStatus"]

UploadMode = Literal["regular", "lfs"]
# "added" and "changed" are what a dry run reports for the files a real upload would send
UploadStatus = Literal["uploaded", "unchanged", "deleted", "ignored", "added", "changed"]


@dataclass(frozen=True)
class FileResult:
    path: str
    size: int
    mode: UploadMode
    status: UploadStatus


@dataclass(frozen=True)
class UploadResult:
    repo: str
    commit_oid: str | None
    commit_url: str | None
    pr_url: str | None = None
    pr_revision: str | None = None
    nothing_to_commit: bool = False
    commits: tuple[str, ...] = ()
    files: tuple[FileResult, ...] = ()
    bytes_sent: int = 0
    dry_run: bool = False
    bytes_to_send: int = 0  # a dry run: the size of what would be added or changed

    @property
    def url(self) -> str | None:
        """What to show the user last: the PR URL if one was opened, else the commit URL."""
        return self.pr_url or self.commit_url

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "url": self.url,
            "commit_oid": self.commit_oid,
            "commit_url": self.commit_url,
            "pr_url": self.pr_url,
            "pr_revision": self.pr_revision,
            "nothing_to_commit": self.nothing_to_commit,
            "commits": list(self.commits),
            "bytes_sent": self.bytes_sent,
            "dry_run": self.dry_run,
            "bytes_to_send": self.bytes_to_send,
            "files": [
                {"path": f.path, "size": f.size, "mode": f.mode, "status": f.status}
                for f in self.files
            ],
        }
