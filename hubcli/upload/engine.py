"""The upload engine: :func:`upload` runs hash, preupload, LFS sends and batched commits in order.

Library entry points: :func:`plan_upload` (walk + globs, no network, in :mod:`hubcli.upload.plan`)
and :func:`upload`. Both raise :mod:`hubcli.errors` subclasses and never print; progress goes to
injected :class:`hubcli.progress.Progress` sinks and a ``say`` callback.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hubcli.client import HubClient
from hubcli.errors import (
    LocalFileError,
    NotFoundError,
    RepoNotFoundError,
    RevisionNotFoundError,
    TokenMissingError,
    UsageError,
)
from hubcli.globs import matches
from hubcli.hashing import git_blob_sha1
from hubcli.models import CommitResult
from hubcli.progress import NullProgress, Progress
from hubcli.repo import RepoRef, is_commit_sha
from hubcli.upload.commit import (
    MAX_FILES_PER_COMMIT,
    MAX_REGULAR_BYTES_PER_COMMIT,
    batches,
    commit_all,
    commit_url,
    default_message,
    halves,
)
from hubcli.upload.early import EarlyCommit
from hubcli.upload.hash_cache import HashCache
from hubcli.upload.items import (
    INLINE_SIZE,
    Item,
    UploadContext,
    cannot_read,
    finish_hashing,
    start_hashing,
)
from hubcli.upload.lfs import LfsObject, LfsUploader
from hubcli.upload.plan import LocalFile, UploadPlan, plan_upload
from hubcli.upload.preupload import PREUPLOAD_CHUNK, Preuploader, check_readme, read_text
from hubcli.upload.results import FileResult, UploadMode, UploadResult

__all__ = ["FileResult", "LocalFile", "UploadPlan", "UploadResult", "plan_upload", "upload"]


def _local_oid(it: Item) -> str:
    return it.sha256 if it.mode == "lfs" else (it.sha1 or "")


def _remote_tree(ctx: UploadContext, prefix: str) -> dict[str, Any]:
    """Files under ``prefix`` at the head: path -> FileEntry (empty if the path is missing)."""
    if not ctx.head:
        return {}
    try:
        entries = ctx.client.list_tree(ctx.ref, revision=ctx.head, path=prefix, recursive=True)
        return {e.path: e for e in entries if hasattr(e, "blob_id")}
    except NotFoundError:
        return {}


def upload(
    client: HubClient,
    ref: RepoRef,
    plan: UploadPlan,
    *,
    revision: str | None = None,
    commit_message: str | None = None,
    commit_description: str = "",
    private: bool = False,
    create_pr: bool = False,
    create_repo: bool = True,
    space_sdk: str | None = None,
    workers: int = 8,
    state_dir: Path | None = None,
    hash_cache_dir: Path | None = None,
    progress: Progress | None = None,
    hash_progress: Progress | None = None,
    say: Callable[[str], None] | None = None,
    max_files_per_commit: int = MAX_FILES_PER_COMMIT,
    max_bytes_per_commit: int = MAX_REGULAR_BYTES_PER_COMMIT,
    dry_run: bool = False,
) -> UploadResult:
    """Publish ``plan`` to ``ref`` and return what happened.

    Unchanged files (same oid as the remote) are neither sent nor committed; no change means no
    commit. Thousands of files are committed in batches (each batch one atomic commit).
    ``state_dir`` keeps the ETags of finished multipart parts (a rerun sends only the missing
    ones); ``hash_cache_dir`` remembers the hashes of large files, so a rerun does not read
    unchanged ones again (see :mod:`hubcli.upload.hash_cache`). Both are optional.
    A bare repo name (no namespace) is the token user's (``whoami``), as in huggingface_hub.
    ``revision`` must be a branch (created if missing) or a PR ref (``refs/pr/N``): a tag or a
    commit sha is refused (UsageError) before anything is hashed or sent.
    ``dry_run`` hashes and asks only read-only questions (refs, preupload, tree): the result
    says what would be ``added``, ``changed``, ``unchanged`` and ``deleted`` and
    ``bytes_to_send``; nothing is created, sent or committed.
    Raises TokenMissingError / AuthError (3), RepoNotFoundError / RevisionNotFoundError (4),
    ConflictError (the branch moved and the commit deletes files), NetworkError (5), LocalFileError,
    UsageError (2: a tag or commit as the revision).
    """
    if not client.session.token:
        raise TokenMissingError(
            "Uploading needs a token, and none was found.",
            hint="Run 'hubcli auth login', or pass --token / set HF_TOKEN (a write token).",
        )
    ref = client.owned_ref(ref)
    check_target_revision(client, ref, revision or ref.revision)
    prog: Progress = progress or NullProgress()
    hprog: Progress = hash_progress or NullProgress()
    tell: Callable[[str], None] = say or (lambda text: None)
    ctx = UploadContext(
        client,
        ref,
        revision or ref.revision or "main",
        create_pr,
        private,
        create_repo,
        space_sdk,
        tell,
        hprog,
        max(1, workers),
        HashCache(hash_cache_dir),
        dry_run=dry_run,
    )
    items = [Item(f) for f in plan.files]
    check_readme(ctx, items)
    hprog.start(sum(it.file.size for it in items), files=len(items))
    stop = threading.Event()
    early: EarlyCommit | None = None
    fits = (
        len(items) <= max_files_per_commit
        and sum(it.file.size for it in items) <= max_bytes_per_commit
    )
    deletes = bool(plan.delete_patterns)
    if fits and EarlyCommit.eligible(ctx, items, deletes=deletes, small=INLINE_SIZE):
        title = commit_message or default_message(plan, items, [])
        early = EarlyCommit(ctx, items, title, commit_description)
    asker = Preuploader(
        ctx, read_text(items, ".gitignore"), on_asked=early.asked if early else None
    )
    early_commit: CommitResult | None = None
    with ThreadPoolExecutor(max_workers=ctx.workers, thread_name_prefix="hash") as pool:
        try:
            hashing = start_hashing(
                ctx, items, pool, stop, on_ready=asker.add, chunk=PREUPLOAD_CHUNK
            )
            if early is not None:
                early.fed_all()
            asker.finish()
            if not items and not ctx.missing:
                _resolve_head(ctx)
            finish_hashing(hashing, stop)
            if early is not None:
                early_commit = early.result()
        except BaseException:
            stop.set()  # large files still hashing give up at their next chunk
            if early is not None:
                early.abort()
                with contextlib.suppress(BaseException):
                    early.result()
            raise
        finally:
            asker.close()
    hprog.done()

    active = [it for it in items if not it.ignore]
    for it in items:
        if it.ignore:
            it.status = "ignored"
    for it in active:
        if it.mode == "regular" and it.sha1 is None:  # a large file the server keeps as regular
            try:
                it.sha1 = git_blob_sha1(it.file.local_path)
            except OSError as exc:
                raise cannot_read(it.file, exc) from exc
            except ValueError as exc:
                raise LocalFileError(f"{it.file.local_path}: {exc}.") from exc

    undecided = [it for it in active if not _oid_decides(it)]
    remote: dict[str, Any] = {}
    if ctx.head and (undecided or plan.delete_patterns or dry_run):
        remote = _remote_tree(ctx, plan.prefix)
    for it in active:
        oid = it.remote_oid
        entry = remote.get(it.file.path_in_repo)
        if not _oid_decides(it) and entry is not None:
            oid = entry.lfs_sha256 if it.mode == "lfs" else entry.blob_id
        if oid and oid == _local_oid(it):
            it.status = "unchanged"
    changed = [it for it in active if it.status == "uploaded"]

    deletions: list[FileResult] = []
    if plan.delete_patterns:
        uploading = {it.file.path_in_repo for it in items}
        for path, entry in sorted(remote.items()):
            rel = path[len(plan.prefix) + 1 :] if plan.prefix else path
            if path in uploading or rel == ".gitattributes" or path == ".gitattributes":
                continue
            if matches(rel, plan.delete_patterns):
                mode: UploadMode = "lfs" if entry.is_lfs else "regular"
                deletions.append(FileResult(path, entry.size, mode, "deleted"))

    if dry_run:
        return _dry_run_result(ref, ctx, items, remote, deletions)
    if early_commit is not None:  # everything went in while it was hashed
        tell(f"Committed {early_commit.commit_oid[:12]}: {len(items)} added or changed, 0 deleted.")
        return UploadResult(
            str(ref),
            early_commit.commit_oid,
            early_commit.commit_url or commit_url(client, ref, early_commit.commit_oid),
            commits=(early_commit.commit_oid,),
            files=tuple(
                FileResult(it.file.path_in_repo, it.file.size, it.mode, "uploaded") for it in items
            ),
        )

    lfs_items = [it for it in changed if it.mode == "lfs"]
    bytes_sent = 0
    if lfs_items:
        objs = [LfsObject(it.file.local_path, it.sha256, it.file.size) for it in lfs_items]
        total = sum(o.size for o in {o.sha256: o for o in objs}.values())
        prog.start(total, files=len(lfs_items))
        uploader = LfsUploader(
            client,
            ref,
            revision=None if create_pr else ctx.revision,
            workers=ctx.workers,
            state_dir=state_dir,
            on_bytes=lambda n: prog.advance("lfs", n),
        )
        uploader.upload(objs)
        prog.done()
        bytes_sent = sum(o.size for o in {o.sha256: o for o in objs if o.sent}.values())

    results = tuple(
        [FileResult(it.file.path_in_repo, it.file.size, it.mode, it.status) for it in items]
        + deletions
    )
    repo_name = str(ref)
    if not changed and not deletions:
        url = commit_url(client, ref, ctx.head)
        return UploadResult(repo_name, ctx.head, url, nothing_to_commit=True, files=results)

    message = commit_message or default_message(plan, changed, deletions)
    groups = batches(changed, deletions, max_files_per_commit, max_bytes_per_commit)
    if early is not None and early.too_large and len(groups) == 1 and len(changed) > 1:
        tell(f"The commit of {len(changed)} files was too large; sending it as two halves…")
        groups = list(halves(groups[0]))  # the server refused it whole: no second try

    def committed(res: CommitResult, batch: tuple[list[Item], list[FileResult]]) -> None:
        changes = f"{len(batch[0])} added or changed, {len(batch[1])} deleted"
        tell(f"Committed {res.commit_oid[:12]}: {changes}.")

    done = commit_all(ctx, groups, message, commit_description, on_commit=committed)
    first, last = done[0], done[-1]
    commits = [c.commit_oid for c in done]
    return UploadResult(
        repo_name,
        last.commit_oid,
        last.commit_url or commit_url(client, ref, last.commit_oid),
        pr_url=first.pr_url,
        pr_revision=first.pr_revision,
        commits=tuple(commits),
        files=results,
        bytes_sent=bytes_sent,
    )


def check_target_revision(client: HubClient, ref: RepoRef, revision: str | None) -> None:
    """Refuse a tag or a commit sha as the revision to commit to (UsageError, exit 2), before
    anything is hashed or sent: one refs call when a revision other than main is named."""
    if not revision or revision == "main" or revision.startswith(("refs/pr/", "refs/heads/")):
        return
    if is_commit_sha(revision):
        raise UsageError(
            f"{ref}: --revision {revision} is a commit; uploads commit to a branch.",
            hint="Name a branch (created if missing), or use --create-pr.",
        )
    try:
        kind = client.list_refs(ref).kind_of(revision)
    except RepoNotFoundError:
        return  # the repo will be created, with the branch
    if kind == "tag" or revision.startswith("refs/tags/"):
        raise UsageError(
            f"{ref}: --revision {revision} is a tag; uploads commit to a branch.",
            hint="Name a branch (created if missing), or use --create-pr.",
        )


def _dry_run_result(
    ref: RepoRef,
    ctx: UploadContext,
    items: list[Item],
    remote: dict[str, Any],
    deletions: list[FileResult],
) -> UploadResult:
    files: list[FileResult] = []
    to_send = 0
    for it in items:
        status = it.status
        if status == "uploaded":
            path = it.file.path_in_repo
            existed = not ctx.missing and (it.remote_oid is not None or path in remote)
            status = "changed" if existed else "added"
            to_send += it.file.size
        files.append(FileResult(it.file.path_in_repo, it.file.size, it.mode, status))
    return UploadResult(
        str(ref),
        ctx.head,
        None,
        nothing_to_commit=not to_send and not deletions,
        files=tuple(files + deletions),
        dry_run=True,
        bytes_to_send=to_send,
    )


def _resolve_head(ctx: UploadContext) -> None:
    """No files to preupload (e.g. only --delete): resolve the head; create a missing repo."""
    try:
        ctx.head = ctx.client.repo_info(ctx.ref, revision=ctx.revision).sha
    except RevisionNotFoundError:
        ctx.head = None
    except RepoNotFoundError:
        if not ctx.create_repo:
            raise
        if ctx.dry_run:
            ctx.missing = True
            return
        ctx.client.create_repo(ctx.ref, private=ctx.private, exist_ok=True, space_sdk=ctx.space_sdk)
        ctx.head = None


def _oid_decides(it: Item) -> bool:
    """Whether the preupload answer settles "unchanged?": no oid means a new file; an oid of the
    wrong kind (e.g. a pointer sha1 for an LFS file) needs the remote tree to decide."""
    oid = it.remote_oid
    return oid is None or len(oid) == (64 if it.mode == "lfs" else 40)
