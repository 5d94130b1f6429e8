"""The upload engine: hash, preupload, send LFS objects, commit (in bounded atomic batches).

Library entry points: :func:`plan_upload` (walk + globs, no network, in :mod:`hubcli.upload.plan`)
and :func:`upload`. Both raise :mod:`hubcli.errors` subclasses and never print; progress goes to
injected :class:`hubcli.progress.Progress` sinks and a ``say`` callback.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubcli.client import HubClient
from hubcli.errors import (
    ConflictError,
    LocalFileError,
    NotFoundError,
    RepoNotFoundError,
    RevisionNotFoundError,
    TokenMissingError,
)
from hubcli.globs import matches
from hubcli.hashing import git_blob_sha1, git_blob_sha1_bytes, hash_file, sha256_bytes
from hubcli.models import CommitResult
from hubcli.progress import NullProgress, Progress
from hubcli.repo import RepoRef, is_commit_sha
from hubcli.upload.hash_cache import HashCache
from hubcli.upload.lfs import LfsObject, LfsUploader
from hubcli.upload.plan import LocalFile, UploadPlan, plan_upload

__all__ = ["FileResult", "LocalFile", "UploadPlan", "UploadResult", "plan_upload", "upload"]

SAMPLE_SIZE = 512
PREUPLOAD_CHUNK = 256
MAX_FILES_PER_COMMIT = 1000
MAX_REGULAR_BYTES_PER_COMMIT = 64 * 1024 * 1024
REGULAR_MAX_SIZE = 10 * 1024 * 1024  # the Hub stores larger files through LFS only
README_CHECK_MAX = 5 * 1024 * 1024  # larger "cards" are not checked (nor read whole)
KEEP_CONTENT_BUDGET = 64 * 1024 * 1024  # small files' bytes kept from the hash pass for commits


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileResult:
    path: str
    size: int
    mode: str  # "regular" | "lfs"
    status: str  # "uploaded" | "unchanged" | "deleted" | "ignored"


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

    @property
    def url(self) -> str | None:
        """What to show the user last: the PR URL if one was opened, else the commit URL."""
        return self.pr_url or self.commit_url

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "commit_oid": self.commit_oid,
            "commit_url": self.commit_url,
            "pr_url": self.pr_url,
            "pr_revision": self.pr_revision,
            "nothing_to_commit": self.nothing_to_commit,
            "commits": list(self.commits),
            "bytes_sent": self.bytes_sent,
            "files": [
                {"path": f.path, "size": f.size, "mode": f.mode, "status": f.status}
                for f in self.files
            ],
        }


# -- the engine -----------------------------------------------------------------------------------
@dataclass
class _Item:
    file: LocalFile
    mode: str = "regular"
    ignore: bool = False
    remote_oid: str | None = None
    sha256: str = ""
    sha1: str | None = None
    status: str = "uploaded"
    sample: bytes = b""
    data: bytes | None = None  # content read while hashing (small files), reused by the commit


@dataclass
class _Ctx:
    client: HubClient
    ref: RepoRef
    revision: str
    create_pr: bool
    private: bool
    create_repo: bool
    space_sdk: str | None
    say: Callable[[str], None]
    hash_progress: Progress
    workers: int
    hashes: HashCache
    head: str | None = None


def _cannot_read(f: LocalFile, exc: OSError) -> LocalFileError:
    return LocalFileError(f"{f.local_path}: cannot read ({exc.strerror}).")


_INLINE_SIZE = 256 * 1024  # below this, a file is read whole on the main thread


def _read_small(ctx: _Ctx, it: _Item, keep: bool) -> None:
    """One read of a small file gives its sample, both ids and (if ``keep``) its content."""
    f = it.file
    try:
        with f.local_path.open("rb") as fh:
            data = fh.read(f.size + 1)
    except OSError as exc:
        raise _cannot_read(f, exc) from exc
    if len(data) != f.size:
        raise LocalFileError(f"{f.local_path}: the file changed while being read.")
    it.sample = data[:SAMPLE_SIZE]
    it.sha256 = sha256_bytes(data)
    it.sha1 = git_blob_sha1_bytes(data)
    if keep:
        it.data = data
    ctx.hash_progress.advance(f.path_in_repo, f.size)


def _read_sample(it: _Item) -> None:
    try:
        with it.file.local_path.open("rb") as fh:
            it.sample = fh.read(SAMPLE_SIZE)
    except OSError as exc:
        raise _cannot_read(it.file, exc) from exc


def _hash_big(ctx: _Ctx, it: _Item, stop: threading.Event) -> None:
    """sha256 of a large file, streamed (and its git sha1 if it may still be a regular file)."""
    key = it.file.path_in_repo
    path = it.file.local_path
    need_sha1 = it.file.size <= REGULAR_MAX_SIZE
    ctx.hash_progress.file_start(key, label=key, size=it.file.size)
    try:
        before = path.stat()
        known = ctx.hashes.get(path, before, need_sha1=need_sha1)
        if known is not None and before.st_size == it.file.size:
            it.sha256, it.sha1 = known
            ctx.hash_progress.advance(key, it.file.size)
            return
        started = time.time()
        sha256, it.sha1 = hash_file(
            path,
            sha1=need_sha1,
            on_bytes=lambda n: ctx.hash_progress.advance(key, n),
            stop=stop,
        )
        assert sha256 is not None
        it.sha256 = sha256
        ctx.hashes.put(path, before, path.stat(), it.sha256, it.sha1, started=started)
    except OSError as exc:
        raise _cannot_read(it.file, exc) from exc
    except ValueError as exc:
        raise LocalFileError(f"{it.file.local_path}: {exc}.") from exc
    finally:
        ctx.hash_progress.file_done(key)


def _start_hashing(
    ctx: _Ctx, items: list[_Item], pool: ThreadPoolExecutor, stop: threading.Event
) -> list[Future[None]]:
    """Hash everything before the server is asked anything.

    Small files are read once, here (sample, sha256, sha1, and their bytes kept for the commit
    while a budget lasts); large files get their sample here and are hashed in ``pool`` while
    the preupload round trips run, so hashing never waits on the network.
    """
    budget = KEEP_CONTENT_BUDGET
    futures: list[Future[None]] = []
    for it in items:
        if it.file.size >= _INLINE_SIZE:
            _read_sample(it)
            futures.append(pool.submit(_hash_big, ctx, it, stop))
    for it in items:
        if it.file.size < _INLINE_SIZE:
            keep = it.file.size <= budget
            _read_small(ctx, it, keep)
            if keep:
                budget -= it.file.size
    return futures


def _finish_hashing(futures: list[Future[None]], stop: threading.Event) -> None:
    """Wait for the hashing pool; on the first error, stop the others and raise it."""
    for fut in futures:
        try:
            fut.result()
        except BaseException:
            stop.set()
            raise


def _preupload(ctx: _Ctx, items: list[_Item]) -> None:
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
            ctx.say(f"Creating {ctx.ref}…")
            ctx.client.create_repo(
                ctx.ref, private=ctx.private, exist_ok=True, space_sdk=ctx.space_sdk
            )
            created_repo = True
        except RevisionNotFoundError:
            if created_branch or ctx.create_pr or not _is_branch_name(ctx.revision):
                raise
            ctx.say(f"Creating branch {ctx.revision!r}…")
            with contextlib.suppress(ConflictError):
                ctx.client.create_branch(ctx.ref, ctx.revision)
            created_branch = True
    if answers[0].get("commitOid"):
        ctx.head = str(answers[0]["commitOid"])
    for chunk, ans in zip(chunks, answers, strict=True):
        _apply_modes(chunk, ans)


def _ask_all(ctx: _Ctx, chunks: list[list[_Item]], git_ignore: str | None) -> list[dict[str, Any]]:
    if len(chunks) <= 1:
        return [_ask(ctx, c, git_ignore) for c in chunks]
    with ThreadPoolExecutor(max_workers=min(4, len(chunks)), thread_name_prefix="pre") as pool:
        futures = [pool.submit(_ask, ctx, c, git_ignore) for c in chunks]
        return [f.result() for f in futures]


def _ask(ctx: _Ctx, chunk: list[_Item], git_ignore: str | None) -> dict[str, Any]:
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


def _apply_modes(chunk: list[_Item], answer: dict[str, Any]) -> None:
    by_path = {str(f.get("path")): f for f in answer.get("files") or [] if isinstance(f, dict)}
    for it in chunk:
        info = by_path.get(it.file.path_in_repo, {})
        it.mode = "lfs" if info.get("uploadMode") == "lfs" else "regular"
        if it.file.size == 0:
            it.mode = "regular"  # empty files are always regular
        it.ignore = bool(info.get("shouldIgnore"))
        oid = info.get("oid")
        it.remote_oid = str(oid) if oid else None


def _read_text(items: list[_Item], path: str) -> str | None:
    for it in items:
        if it.file.path_in_repo == path:
            try:
                return it.file.local_path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
    return None


def _check_readme(ctx: _Ctx, items: list[_Item]) -> None:
    """A README.md at the repo root is the card: have the Hub check its metadata first, so a
    typo in the YAML fails in a second instead of after hashing and sending everything."""
    card = next((it for it in items if it.file.path_in_repo == "README.md"), None)
    if card is None or card.file.size > README_CHECK_MAX:
        return
    try:
        text = card.file.local_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _cannot_read(card.file, exc) from exc
    except UnicodeDecodeError:
        return  # not text: nothing the metadata check could read
    for warning in ctx.client.validate_yaml(ctx.ref, text):
        ctx.say(f"README.md: {warning}")


def _is_branch_name(rev: str) -> bool:
    return not is_commit_sha(rev) and not rev.startswith("refs/")


def _local_oid(it: _Item) -> str:
    return it.sha256 if it.mode == "lfs" else (it.sha1 or "")


def _remote_tree(ctx: _Ctx, prefix: str) -> dict[str, Any]:
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
) -> UploadResult:
    """Publish ``plan`` to ``ref`` and return what happened.

    Unchanged files (same oid as the remote) are neither sent nor committed; no change means no
    commit. Thousands of files are committed in batches (each batch one atomic commit).
    ``state_dir`` keeps the ETags of finished multipart parts (a rerun sends only the missing
    ones); ``hash_cache_dir`` remembers the hashes of large files, so a rerun does not read
    unchanged ones again (see :mod:`hubcli.upload.hash_cache`). Both are optional.
    Raises TokenMissingError / AuthError (3), RepoNotFoundError / RevisionNotFoundError (4),
    ConflictError (the branch moved and the commit deletes files), NetworkError (5), LocalFileError.
    """
    if not client.session.token:
        raise TokenMissingError(
            "Uploading needs a token, and none was found.",
            hint="Run 'hubcli auth login', or pass --token / set HF_TOKEN (a write token).",
        )
    prog: Progress = progress or NullProgress()
    hprog: Progress = hash_progress or NullProgress()
    tell: Callable[[str], None] = say or (lambda text: None)
    ctx = _Ctx(
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
    )
    items = [_Item(f) for f in plan.files]
    _check_readme(ctx, items)
    hprog.start(sum(it.file.size for it in items), files=len(items))
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=ctx.workers, thread_name_prefix="hash") as pool:
        try:
            hashing = _start_hashing(ctx, items, pool, stop)
            _preupload(ctx, items)
            if not items:
                _resolve_head(ctx)
            _finish_hashing(hashing, stop)
        except BaseException:
            stop.set()  # large files still hashing give up at their next chunk
            raise
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
                raise _cannot_read(it.file, exc) from exc
            except ValueError as exc:
                raise LocalFileError(f"{it.file.local_path}: {exc}.") from exc

    undecided = [it for it in active if not _oid_decides(it)]
    remote: dict[str, Any] = {}
    if ctx.head and (undecided or plan.delete_patterns):
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
                mode = "lfs" if entry.is_lfs else "regular"
                deletions.append(FileResult(path, entry.size, mode, "deleted"))

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
        url = _commit_url(client, ref, ctx.head)
        return UploadResult(repo_name, ctx.head, url, nothing_to_commit=True, files=results)

    message = commit_message or _default_message(plan, changed, deletions)
    batches = _batches(changed, deletions, max_files_per_commit, max_bytes_per_commit)
    commits: list[str] = []
    first: CommitResult | None = None
    last: CommitResult | None = None
    target = ctx.revision
    for n, (adds, dels) in enumerate(batches, start=1):
        title = message if n == 1 else f"{message} (part {n})"
        use_pr = create_pr and n == 1
        last = _commit_batch(ctx, target, title, commit_description, adds, dels, use_pr)
        commits.append(last.commit_oid)
        if n == 1:
            first = last
            if create_pr and last.pr_revision:
                target = last.pr_revision
        ctx.head = last.commit_oid
        tell(f"Committed {len(adds) + len(dels)} file(s): {last.commit_oid[:12]}")
    assert first is not None and last is not None
    return UploadResult(
        repo_name,
        last.commit_oid,
        last.commit_url or _commit_url(client, ref, last.commit_oid),
        pr_url=first.pr_url,
        pr_revision=first.pr_revision,
        commits=tuple(commits),
        files=results,
        bytes_sent=bytes_sent,
    )


def _resolve_head(ctx: _Ctx) -> None:
    """No files to preupload (e.g. only --delete): resolve the head; create a missing repo."""
    try:
        ctx.head = ctx.client.repo_info(ctx.ref, revision=ctx.revision).sha
    except RevisionNotFoundError:
        ctx.head = None
    except RepoNotFoundError:
        if not ctx.create_repo:
            raise
        ctx.client.create_repo(ctx.ref, private=ctx.private, exist_ok=True, space_sdk=ctx.space_sdk)
        ctx.head = None


def _oid_decides(it: _Item) -> bool:
    """Whether the preupload answer settles "unchanged?": no oid means a new file; an oid of the
    wrong kind (e.g. a pointer sha1 for an LFS file) needs the remote tree to decide."""
    oid = it.remote_oid
    return oid is None or len(oid) == (64 if it.mode == "lfs" else 40)


def _default_message(plan: UploadPlan, changed: list[_Item], deletions: list[FileResult]) -> str:
    if len(changed) == 1 and not deletions:
        return f"Upload {changed[0].file.path_in_repo} with hubcli"
    return (
        f"Upload {plan.prefix or 'folder'} with hubcli" if changed else "Delete files with hubcli"
    )


def _batches(
    adds: list[_Item], dels: list[FileResult], max_files: int, max_bytes: int
) -> list[tuple[list[_Item], list[FileResult]]]:
    """Split into commits of bounded size; deletions ride the first commit."""
    out: list[tuple[list[_Item], list[FileResult]]] = [([], list(dels))]
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


def _commit_batch(
    ctx: _Ctx,
    revision: str,
    title: str,
    description: str,
    adds: list[_Item],
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
                    raise _cannot_read(it.file, exc) from exc
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


def _commit_url(client: HubClient, ref: RepoRef, oid: str | None) -> str:
    base = f"{client.endpoint}/{ref.url_prefix}{ref.repo_id}"
    return f"{base}/commit/{oid}" if oid else base
