"""Committing while hashing: for a folder of small files, the commit is sent as the preupload
answers arrive, so the server stores the first files while the client still reads the last.

Only when the answer is known to be "every file is a new or changed regular file": the body's
length is computed up front on that assumption (all sizes are known from the plan), the header
names the head the first preupload answer saw as ``parentCommit``, and the lines of each group of
256 files are sent once its answer confirms it. Any other answer (an LFS or ignored file, an
unchanged one, a remote id that needs the tree to compare, another head) aborts the request
before its body is complete, so the server never applies it, and the upload goes on the usual
way (:func:`hubcli.upload.commit.commit_all`) with the answers already in hand.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

from hubcli.errors import HubError
from hubcli.models import CommitResult
from hubcli.upload import commit as commit_mod
from hubcli.upload.commit import CommitBody, landed, unknown_outcome
from hubcli.upload.items import Item, UploadContext

__all__ = ["MIN_FILES", "EarlyCommit"]

MIN_FILES = 512  # below two preupload groups there is nothing to overlap
_DONE = None


class _Abort(Exception):
    """Raised inside the body: the request ends before the body is complete (never applied)."""


class EarlyCommit:
    """One commit of ``items`` sent while they are hashed; :meth:`result` is the commit, or None
    when it was not made (the upload then commits the usual way)."""

    def __init__(self, ctx: UploadContext, items: list[Item], title: str, description: str):
        self.ctx = ctx
        self.items = items
        self.title = title
        self.description = description
        self._groups: queue.Queue[tuple[list[Item], Future[dict[str, Any] | None]] | None] = (
            queue.Queue()
        )
        self._abort = threading.Event()
        self._result: CommitResult | None = None
        self._error: BaseException | None = None
        self.sent = False  # the request was started (the header named a parent)
        self.too_large = False  # the server refused it as too large (413)
        self._thread = threading.Thread(target=self._run, name="early-commit", daemon=True)
        self._thread.start()

    @staticmethod
    def eligible(ctx: UploadContext, items: list[Item], *, deletes: bool, small: int) -> bool:
        """Worth it and safe: many files, all small, no deletions, no PR, no dry run."""
        return (
            len(items) >= MIN_FILES
            and not deletes
            and not ctx.create_pr
            and not ctx.dry_run
            and all(it.file.size < small for it in items)
        )

    # -- fed by the preupload stage (hashing thread) ------------------------------------------
    def asked(self, chunk: list[Item], fut: Future[dict[str, Any] | None]) -> None:
        self._groups.put((chunk, fut))

    def fed_all(self) -> None:
        self._groups.put(_DONE)

    def abort(self) -> None:
        self._abort.set()
        self._groups.put(_DONE)

    def result(self) -> CommitResult | None:
        """Wait for the request; re-raise an error after which it is unknown whether the commit
        was applied (never sent again blindly)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    # -- the request (its own thread) -----------------------------------------------------------
    def _next(self) -> tuple[list[Item], dict[str, Any]] | None:
        got = self._groups.get()
        if got is None or self._abort.is_set():
            return None
        chunk, fut = got
        try:
            answer = fut.result()
        except BaseException:
            return None  # the preupload failed: the main thread reports it
        return (chunk, answer) if answer is not None else None

    def _run(self) -> None:
        first = self._next()
        if first is None:
            return
        head = first[1].get("commitOid")
        if not isinstance(head, str) or not head:
            return  # no head to name as parent: a 412 could not guard a retry
        if not _all_new_regular(*first, head):
            return  # e.g. a rerun with nothing changed: no request at all
        header = {"summary": self.title, "description": self.description, "parentCommit": head}
        ctx = self.ctx

        def groups() -> Iterator[list[Item]]:
            got: tuple[list[Item], dict[str, Any]] | None = first
            sent = 0
            while got is not None:
                chunk, answer = got
                if not _all_new_regular(chunk, answer, head):
                    raise _Abort
                sent += len(chunk)
                yield chunk
                got = self._next()
            if sent != len(self.items):
                raise _Abort  # hashing stopped early

        body = CommitBody(header, self.items, [], lines=groups())
        self.sent = True
        try:
            self._result = commit_mod.send_commit(
                ctx.client, ctx.ref, ctx.revision, body, create_pr=False
            )
        except _Abort:
            return
        except HubError as exc:
            if not unknown_outcome(exc):
                self.too_large = getattr(exc, "status", 0) == 413
                return  # refused (413, 412, ...): the usual way sends it (or says why not)
            try:
                self._result = landed(ctx, ctx.revision, head, self.title, self.items, [])
            except HubError:
                self._error = exc  # cannot tell whether it landed: never resend blindly
        except BaseException as exc:  # a file that changed, an interrupt: the main thread says
            self._error = exc


def _all_new_regular(chunk: list[Item], answer: dict[str, Any], head: str) -> bool:
    """Whether the answer says every file of ``chunk`` goes in the commit as a regular file."""
    if answer.get("commitOid") != head:
        return False
    files = answer.get("files")
    if not isinstance(files, list):
        return False
    by_path = {str(f.get("path")): f for f in files if isinstance(f, dict)}
    for it in chunk:
        info = by_path.get(it.file.path_in_repo)
        if info is None or info.get("shouldIgnore"):
            return False
        if info.get("uploadMode") == "lfs" and it.file.size > 0:
            return False
        oid = info.get("oid")
        if oid and (len(str(oid)) != 40 or str(oid) == it.sha1):
            return False  # unchanged, or an id only the remote tree can compare
    return True
