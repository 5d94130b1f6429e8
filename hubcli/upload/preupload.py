"""Before anything is sent: the README metadata check and the preupload round trips."""

from __future__ import annotations

import base64
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hubcli.errors import ConflictError, RepoNotFoundError, RevisionNotFoundError
from hubcli.repo import is_commit_sha
from hubcli.upload.items import Item, UploadContext, cannot_read

__all__ = ["PREUPLOAD_CHUNK", "README_CHECK_MAX", "check_readme", "preupload"]

PREUPLOAD_CHUNK = 256
README_CHECK_MAX = 5 * 1024 * 1024  # larger "cards" are not checked (nor read whole)


def preupload(ctx: UploadContext, items: list[Item]) -> None:
    """Ask the server regular vs LFS (and the remote oids); create repo / branch on demand.

    The first chunk of 256 files is asked alone (a missing repo or branch is created, then it is
    asked again), the others in parallel after it. Answers that saw different heads (the branch
    moved meanwhile) are asked again once, so the modes and remote ids all belong to the head the
    commit will build on.
    """
    git_ignore = _read_text(items, ".gitignore")
    chunks = [items[i : i + PREUPLOAD_CHUNK] for i in range(0, len(items), PREUPLOAD_CHUNK)]
    if not chunks:
        return
    created_repo = created_branch = False
    settled = False
    while True:
        try:
            first = _ask(ctx, chunks[0], git_ignore)  # alone: it may find no repo or branch
            answers = [first, *_ask_all(ctx, chunks[1:], git_ignore)]
            heads = {str(a.get("commitOid") or "") for a in answers}
            if len(heads) > 1 and not settled:
                settled = True
                continue
            break
        except RepoNotFoundError:
            if created_repo or not ctx.create_repo:
                raise
            if ctx.dry_run:
                ctx.missing = True  # the repo would be created: every file is new
                return
            ctx.say(f"Creating {ctx.ref}…")
            ctx.client.create_repo(
                ctx.ref, private=ctx.private, exist_ok=True, space_sdk=ctx.space_sdk
            )
            created_repo = True
        except RevisionNotFoundError:
            if created_branch or ctx.create_pr or not _is_branch_name(ctx.revision):
                raise
            if ctx.dry_run:
                ctx.missing = True  # the branch would be created
                return
            ctx.say(f"Creating branch {ctx.revision!r}…")
            with contextlib.suppress(ConflictError):
                ctx.client.create_branch(ctx.ref, ctx.revision)
            created_branch = True
    if answers[0].get("commitOid"):
        ctx.head = str(answers[0]["commitOid"])
    for chunk, ans in zip(chunks, answers, strict=True):
        _apply_modes(chunk, ans)


def _ask_all(
    ctx: UploadContext, chunks: list[list[Item]], git_ignore: str | None
) -> list[dict[str, Any]]:
    if len(chunks) <= 1:
        return [_ask(ctx, c, git_ignore) for c in chunks]
    with ThreadPoolExecutor(max_workers=min(4, len(chunks)), thread_name_prefix="pre") as pool:
        futures = [pool.submit(_ask, ctx, c, git_ignore) for c in chunks]
        return [f.result() for f in futures]


def _ask(ctx: UploadContext, chunk: list[Item], git_ignore: str | None) -> dict[str, Any]:
    body = [
        {
            "path": it.file.path_in_repo,
            "sample": base64.b64encode(it.sample).decode(),
            "size": it.file.size,
        }
        for it in chunk
    ]
    return ctx.client.preupload(
        ctx.ref, revision=ctx.revision, files=body, create_pr=ctx.create_pr, git_ignore=git_ignore
    )


def _apply_modes(chunk: list[Item], answer: dict[str, Any]) -> None:
    by_path = {str(f.get("path")): f for f in answer.get("files") or [] if isinstance(f, dict)}
    for it in chunk:
        info = by_path.get(it.file.path_in_repo, {})
        it.mode = "lfs" if info.get("uploadMode") == "lfs" else "regular"
        if it.file.size == 0:
            it.mode = "regular"  # empty files are always regular
        it.ignore = bool(info.get("shouldIgnore"))
        oid = info.get("oid")
        it.remote_oid = str(oid) if oid else None


def _read_text(items: list[Item], path: str) -> str | None:
    for it in items:
        if it.file.path_in_repo == path:
            try:
                return it.file.local_path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
    return None


def check_readme(ctx: UploadContext, items: list[Item]) -> None:
    """A README.md at the repo root is the card: have the Hub check its metadata first, so a
    typo in the YAML fails in a second instead of after hashing and sending everything."""
    card = next((it for it in items if it.file.path_in_repo == "README.md"), None)
    if card is None or card.file.size > README_CHECK_MAX:
        return
    try:
        text = card.file.local_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise cannot_read(card.file, exc) from exc
    except UnicodeDecodeError:
        return  # not text: nothing the metadata check could read
    for warning in ctx.client.validate_yaml(ctx.ref, text):
        ctx.say(f"README.md: {warning}")


def _is_branch_name(rev: str) -> bool:
    return not is_commit_sha(rev) and not rev.startswith("refs/")
