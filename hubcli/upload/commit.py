"""The commits of an upload: bounded batches, each one atomic NDJSON commit on the Hub."""

from __future__ import annotations

import base64
from typing import Any

from hubcli.client import HubClient
from hubcli.errors import ConflictError, LocalFileError
from hubcli.hashing import git_blob_sha1_bytes
from hubcli.models import CommitResult
from hubcli.repo import RepoRef
from hubcli.upload.items import Item, UploadContext, cannot_read
from hubcli.upload.plan import UploadPlan
from hubcli.upload.results import FileResult

__all__ = [
    "MAX_FILES_PER_COMMIT",
    "MAX_REGULAR_BYTES_PER_COMMIT",
    "batches",
    "commit_batch",
    "commit_url",
    "default_message",
]

MAX_FILES_PER_COMMIT = 1000
MAX_REGULAR_BYTES_PER_COMMIT = 64 * 1024 * 1024


def default_message(plan: UploadPlan, changed: list[Item], deletions: list[FileResult]) -> str:
    if len(changed) == 1 and not deletions:
        return f"Upload {changed[0].file.path_in_repo} with hubcli"
    return (
        f"Upload {plan.prefix or 'folder'} with hubcli" if changed else "Delete files with hubcli"
    )


def batches(
    adds: list[Item], dels: list[FileResult], max_files: int, max_bytes: int
) -> list[tuple[list[Item], list[FileResult]]]:
    """Split into commits of bounded size; deletions ride the first commit."""
    out: list[tuple[list[Item], list[FileResult]]] = [([], list(dels))]
    count, size = len(dels), 0
    for it in adds:
        cost = it.file.size if it.mode == "regular" else 0
        if out[-1][0] and (count + 1 > max_files or size + cost > max_bytes):
            out.append(([], []))
            count, size = 0, 0
        out[-1][0].append(it)
        count += 1
        size += cost
    return out


def commit_batch(
    ctx: UploadContext,
    revision: str,
    title: str,
    description: str,
    adds: list[Item],
    dels: list[FileResult],
    create_pr: bool,
) -> CommitResult:
    ops: list[dict[str, Any]] = []
    for it in adds:
        if it.mode == "lfs":
            ops.append(
                {
                    "key": "lfsFile",
                    "value": {
                        "path": it.file.path_in_repo,
                        "algo": "sha256",
                        "oid": it.sha256,
                        "size": it.file.size,
                    },
                }
            )
        else:
            data = it.data
            if data is None:
                try:
                    data = it.file.local_path.read_bytes()
                except OSError as exc:
                    raise cannot_read(it.file, exc) from exc
                if git_blob_sha1_bytes(data) != it.sha1:
                    raise LocalFileError(
                        f"{it.file.local_path}: the file changed while uploading; rerun."
                    )
            ops.append(
                {
                    "key": "file",
                    "value": {
                        "content": base64.b64encode(data).decode(),
                        "path": it.file.path_in_repo,
                        "encoding": "base64",
                    },
                }
            )
    ops.extend({"key": "deletedFile", "value": {"path": d.path}} for d in dels)
    parent = ctx.head
    for attempt in (0, 1):
        header: dict[str, Any] = {"summary": title, "description": description}
        if parent:
            header["parentCommit"] = parent
        try:
            return ctx.client.commit(
                ctx.ref,
                revision=revision,
                lines=[{"key": "header", "value": header}, *ops],
                create_pr=create_pr,
            )
        except ConflictError as exc:
            if exc.status != 412 or dels or attempt == 1:
                raise ConflictError(
                    f"{ctx.ref}@{revision}: the branch moved while uploading ({exc.message}).",
                    hint="Nothing was committed by this batch; rerun the upload to retry.",
                    status=exc.status,
                ) from exc
            ctx.say("The branch moved; retrying once on the new head…")
            parent = ctx.client.repo_info(ctx.ref, revision=revision).sha
    raise AssertionError("unreachable")


def commit_url(client: HubClient, ref: RepoRef, oid: str | None) -> str:
    base = f"{client.endpoint}/{ref.url_prefix}{ref.repo_id}"
    return f"{base}/commit/{oid}" if oid else base
