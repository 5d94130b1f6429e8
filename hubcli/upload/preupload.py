"""Before anything is sent: the README metadata check and the preupload round trips."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from hubcli.errors import ConflictError, RepoNotFoundError, RevisionNotFoundError
from hubcli.repo import is_commit_sha
from hubcli.upload.items import Item, UploadContext, cannot_read

__all__ = [
    "PREUPLOAD_CHUNK",
    "README_CHECK_MAX",
    "Preuploader",
    "check_readme",
    "preupload",
    "read_text",
]

PREUPLOAD_CHUNK = 256
README_CHECK_MAX = 5 * 1024 * 1024  # larger "cards" are not checked (nor read whole)


def preupload(ctx: UploadContext, items: list[Item]) -> None:
    """Ask the server regular vs LFS (and the remote oids) for ``items`` whose samples are read;
    create repo / branch on demand. See :class:`Preuploader`, which asks while hashing goes on."""
    asker = Preuploader(ctx, read_text(items, ".gitignore"))
    try:
        for i in range(0, len(items), PREUPLOAD_CHUNK):
            asker.add(items[i : i + PREUPLOAD_CHUNK])
        asker.finish()
    finally:
        asker.close()


class Preuploader:
    """The preupload round trips, asked chunk by chunk as the hashing stage reads the samples,
    so the server answers while the client is still reading files.

    The first chunk of 256 files is asked alone (a missing repo or branch is created, then it is
    asked again), the others in parallel after it. Answers that saw different heads (the branch
    moved meanwhile) are asked again once at :meth:`finish`, so the modes and remote ids all
    belong to the head the commit will build on.
    """

    def __init__(
        self,
        ctx: UploadContext,
        git_ignore: str | None,
        *,
        on_asked: Callable[[list[Item], Future[dict[str, Any] | None]], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.git_ignore = git_ignore
        self.on_asked = on_asked
        self.chunks: list[list[Item]] = []
        self.futures: list[Future[dict[str, Any] | None]] = []
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pre")

    def add(self, chunk: list[Item]) -> None:
        """Ask about ``chunk`` (its samples must be read) in the background."""
        if not chunk:
            return
        if not self.futures:
            fut = self.pool.submit(self._first, chunk)
        else:
            fut = self.pool.submit(self._later, self.futures[0], chunk)
        self.chunks.append(chunk)
        self.futures.append(fut)
        if self.on_asked is not None:
            self.on_asked(chunk, fut)

    def _first(self, chunk: list[Item]) -> dict[str, Any] | None:
        """Ask alone: it may find no repo or branch (created, then asked again)."""
        ctx = self.ctx
        created_repo = created_branch = False
        while True:
            try:
                return self._ask(chunk)
            except RepoNotFoundError:
                if created_repo or not ctx.create_repo:
                    raise
                if ctx.dry_run:
                    ctx.missing = True  # the repo would be created: every file is new
                    return None
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
                    return None
                ctx.say(f"Creating branch {ctx.revision!r}…")
                with contextlib.suppress(ConflictError):
                    ctx.client.create_branch(ctx.ref, ctx.revision)
                created_branch = True

    def _later(
        self, first: Future[dict[str, Any] | None], chunk: list[Item]
    ) -> dict[str, Any] | None:
        if first.result() is None:
            return None  # a dry run found nothing to ask about
        return self._ask(chunk)

    def _ask(self, chunk: list[Item]) -> dict[str, Any]:
        return _ask(self.ctx, chunk, self.git_ignore)

    def finish(self) -> None:
        """Wait for every answer and apply them (modes, ignore flags, remote ids, the head)."""
        answers = [f.result() for f in self.futures]
        if not answers or answers[0] is None:
            return
        done = [a for a in answers if a is not None]
        if len({str(a.get("commitOid") or "") for a in done}) > 1:
            done = [self._ask(c) for c in self.chunks]  # the branch moved: ask again, once
        if done[0].get("commitOid"):
            self.ctx.head = str(done[0]["commitOid"])
        for chunk, ans in zip(self.chunks, done, strict=True):
            _apply_modes(chunk, ans)

    def close(self) -> None:
        for fut in self.futures:
            fut.cancel()
        self.pool.shutdown(wait=True)


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


def read_text(items: list[Item], path: str) -> str | None:
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
