"""The commits of an upload: as few as possible (everything in one, as huggingface_hub does),
each one atomic NDJSON commit whose body is generated while it is sent.

A commit the server refuses as too large (413), or that fails with a 5xx, a timeout or a dropped
connection, is split in two halves and sent again; before anything is sent again after a failure
whose outcome is unknown, the branch head is checked for it (:func:`landed`), so a commit whose
answer was lost is never applied twice. Every commit names its ``parentCommit``: a concurrent
change is a 412, never a silent double commit.
"""

from __future__ import annotations

import base64
import json
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator
from typing import Any

from hubcli.client import HubClient
from hubcli.errors import (
    ConflictError,
    HTTPStatusError,
    HubError,
    LocalFileError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    RevisionNotFoundError,
)
from hubcli.hashing import git_blob_sha1_bytes, parse_commit
from hubcli.http import quote_segment
from hubcli.models import CommitResult
from hubcli.repo import RepoRef
from hubcli.transfer.ratelimit import paced
from hubcli.upload.items import Item, UploadContext, cannot_read, read_whole
from hubcli.upload.plan import UploadPlan
from hubcli.upload.results import FileResult

__all__ = [
    "MAX_FILES_PER_COMMIT",
    "MAX_REGULAR_BYTES_PER_COMMIT",
    "CommitBody",
    "batches",
    "commit_all",
    "commit_batch",
    "commit_url",
    "default_message",
    "halves",
    "landed",
    "send_commit",
    "unknown_outcome",
]

# Everything goes in one commit unless it is huge; the server's 413 (or a 5xx / timeout on a
# big commit) halves it. 1 GiB of regular content is a ~1.4 GB NDJSON body.
MAX_FILES_PER_COMMIT = 1_000_000
MAX_REGULAR_BYTES_PER_COMMIT = 1024 * 1024 * 1024
BODY_BLOCK = 256 * 1024  # bytes generated per read() of the commit body
_CHECK_COMMITS = 100  # commits after the expected parent searched for ours
_CHECK_PATHS = 500  # paths per paths-info call when checking a commit landed
_CHECK_PRS = 5  # newest pull requests searched for ours (--create-pr)
_PR_RE = re.compile(r"/discussions/(\d+)")

Batch = tuple[list[Item], list[FileResult]]


def default_message(plan: UploadPlan, changed: list[Item], deletions: list[FileResult]) -> str:
    if len(changed) == 1 and not deletions:
        return f"Upload {changed[0].file.path_in_repo} with hubcli"
    return (
        f"Upload {plan.prefix or 'folder'} with hubcli" if changed else "Delete files with hubcli"
    )


def batches(
    adds: list[Item], dels: list[FileResult], max_files: int, max_bytes: int
) -> list[Batch]:
    """Split into commits of bounded size; deletions ride the first commit."""
    out: list[Batch] = [([], list(dels))]
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


def halves(batch: Batch) -> tuple[Batch, Batch]:
    """Two commits for one: deletions stay in the first (they ride the first commit)."""
    adds, dels = batch
    if adds:
        mid = (len(adds) + 1) // 2 if not dels else len(adds) // 2
        return (adds[:mid], dels), (adds[mid:], [])
    mid = len(dels) // 2
    return ([], dels[:mid]), ([], dels[mid:])


# -- the body ---------------------------------------------------------------------------------
_FILE_HEAD = b'{"key": "file", "value": {"content": "'
_FILE_MID = b'", "path": '
_FILE_TAIL = b', "encoding": "base64"}}\n'
_LFS_HEAD = b'{"key": "lfsFile", "value": {"path": '
_DEL_HEAD = b'{"key": "deletedFile", "value": {"path": '
_DEL_TAIL = b"}}\n"


def _quoted(path: str) -> bytes:
    return json.dumps(path).encode("ascii")


def header_line(header: dict[str, Any]) -> bytes:
    return (json.dumps({"key": "header", "value": header}) + "\n").encode("utf-8")


def regular_line_len(it: Item) -> int:
    """The length of a regular file's ``file`` line (base64 of ``it.file.size`` bytes)."""
    fixed = len(_FILE_HEAD) + len(_FILE_MID) + len(_FILE_TAIL)
    return fixed + 4 * ((it.file.size + 2) // 3) + len(_quoted(it.file.path_in_repo))


def _content(it: Item) -> bytes:
    """A regular file's bytes: kept from the hash pass, or read again (and checked against the
    sha1 the preupload decisions were made with)."""
    if it.data is not None:
        return it.data
    try:
        data = read_whole(it.file.local_path, it.file.size)
    except OSError as exc:
        raise cannot_read(it.file, exc) from exc
    if len(data) != it.file.size or git_blob_sha1_bytes(data) != it.sha1:
        raise LocalFileError(f"{it.file.local_path}: the file changed while uploading; rerun.")
    return data


class CommitBody:
    """The NDJSON body of one commit, made while it is sent (a file-like with a known length):
    one file's content and one block of lines in memory at a time, whatever the commit's size.

    Lines are byte-for-byte what ``json.dumps`` makes of huggingface_hub's payload: the header,
    then ``file`` / ``lfsFile`` lines in order, then ``deletedFile`` lines.
    """

    def __init__(
        self,
        header: dict[str, Any],
        adds: list[Item],
        dels: list[FileResult],
        *,
        lines: Iterator[list[Item]] | None = None,
    ) -> None:
        """``lines``: the adds come in groups from this iterator (which may wait, or raise to
        abort the request before the body is complete) instead of from ``adds``; the length is
        still computed from ``adds``, which must be the same items."""
        self._head = header_line(header)
        self._adds = adds
        self._dels = dels
        total = len(self._head)
        for it in adds:
            total += len(self._lfs_line(it)) if it.mode == "lfs" else regular_line_len(it)
        for d in dels:
            total += len(_DEL_HEAD) + len(_quoted(d.path)) + len(_DEL_TAIL)
        self._length = total
        self._lines = self._generate(lines if lines is not None else iter([adds]))
        self._sent = 0

    @staticmethod
    def _lfs_line(it: Item) -> bytes:
        tail = f', "algo": "sha256", "oid": "{it.sha256}", "size": {it.file.size}}}}}\n'
        return _LFS_HEAD + _quoted(it.file.path_in_repo) + tail.encode("ascii")

    def _generate(self, groups: Iterator[list[Item]]) -> Generator[bytes, None, None]:
        yield self._head
        for group in groups:
            for it in group:
                if it.mode == "lfs":
                    yield self._lfs_line(it)
                else:
                    b64 = base64.b64encode(_content(it))
                    yield b"".join(
                        (_FILE_HEAD, b64, _FILE_MID, _quoted(it.file.path_in_repo), _FILE_TAIL)
                    )
        for d in self._dels:
            yield _DEL_HEAD + _quoted(d.path) + _DEL_TAIL

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        # http.client asks for small blocks; bigger ones mean fewer sends and the same stream
        want = BODY_BLOCK if n is None or n < BODY_BLOCK else n
        parts: list[bytes] = []
        size = 0
        for line in self._lines:
            parts.append(line)
            size += len(line)
            if size >= want:
                break
        data = b"".join(parts)
        self._sent += len(data)
        if not data and self._sent != self._length:  # cannot happen unless a size lied
            raise LocalFileError("The commit body came out shorter than announced; rerun.")
        return data

    def close(self) -> None:
        self._lines.close()


def send_commit(
    client: HubClient, ref: RepoRef, revision: str, body: CommitBody, *, create_pr: bool
) -> CommitResult:
    """POST one streamed NDJSON commit (never retried here: see :func:`commit_all`)."""
    url = f"/api/{ref.api_plural}/{ref.repo_id}/commit/{quote_segment(revision)}"
    try:
        resp = client.session.request(
            "POST",
            url,
            data=paced(body, client.session.settings.limit_rate),  # --limit-rate
            params={"create_pr": "1"} if create_pr else None,
            headers={"Content-Type": "application/x-ndjson"},
            retry=False,
            what=f"{ref} commit",
        )
    finally:
        body.close()
    try:
        data = resp.json()
    except ValueError as exc:
        raise ProtocolError(f"{ref}: the server's commit answer is not JSON.") from exc
    if not isinstance(data, dict) or "commitOid" not in data:
        raise ProtocolError(f"{ref}: the server's commit answer has no commitOid.")
    pr_url = data.get("pullRequestUrl")
    m = _PR_RE.search(str(pr_url)) if pr_url else None
    return CommitResult(
        commit_oid=parse_commit(data["commitOid"], what=f"{ref} commit"),
        commit_url=str(data.get("commitUrl") or ""),
        pr_url=str(pr_url) if pr_url else None,
        pr_revision=f"refs/pr/{m.group(1)}" if m else None,
    )


# -- one commit, and whether a lost one landed ------------------------------------------------
class RetryCommit(Exception):
    """The commit was not applied and may be sent again (split in two when it has more than one
    operation). ``too_large``: the server refused its size (413)."""

    def __init__(self, cause: HubError, *, too_large: bool) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.too_large = too_large


def unknown_outcome(exc: HubError) -> bool:
    """A failure after which the commit may or may not have been applied."""
    if isinstance(exc, NetworkError):  # timeouts, dropped connections, 5xx, 429, bad answers
        return True
    return isinstance(exc, HTTPStatusError) and exc.status in (408, 504)


def commit_batch(
    ctx: UploadContext,
    revision: str,
    title: str,
    description: str,
    adds: list[Item],
    dels: list[FileResult],
    create_pr: bool,
) -> CommitResult:
    """Send one commit on top of ``ctx.head``. Raises :class:`RetryCommit` when it was not
    applied and may be sent again (413, or a 5xx / timeout / dropped answer after which the
    branch does not hold it); returns the commit found on the branch when a lost answer's
    commit did land."""
    parent = ctx.head
    for attempt in (0, 1):
        header: dict[str, Any] = {"summary": title, "description": description}
        if parent:
            header["parentCommit"] = parent
        try:
            return send_commit(
                ctx.client, ctx.ref, revision, CommitBody(header, adds, dels), create_pr=create_pr
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
        except HubError as exc:
            if isinstance(exc, HTTPStatusError) and exc.status == 413:
                raise RetryCommit(exc, too_large=True) from exc
            if not unknown_outcome(exc):
                raise
            try:
                found = landed(ctx, revision, parent, title, adds, dels, create_pr=create_pr)
            except HubError:
                raise exc from None  # cannot tell: the original error, never a blind resend
            if found is not None:
                ctx.say(f"The commit landed although its answer was lost ({exc.message}).")
                return found
            raise RetryCommit(exc, too_large=False) from exc
    raise AssertionError("unreachable")


def landed(
    ctx: UploadContext,
    revision: str,
    parent: str | None,
    title: str,
    adds: list[Item],
    dels: list[FileResult],
    *,
    create_pr: bool = False,
) -> CommitResult | None:
    """The commit ``title`` on top of ``parent``, if the server applied it although its answer
    was lost: the branch moved past ``parent``, a commit after it has our title, and the head
    holds every file of the commit with our ids (and none of the deleted ones). None if not.

    With ``create_pr`` the newest pull requests are searched instead of the branch.
    """
    client, ref = ctx.client, ctx.ref
    if create_pr:
        prs = client.list_refs(ref, include_prs=True).pull_requests or ()

        def number(r: Any) -> int:
            m = re.search(r"(\d+)$", str(r.ref))
            return int(m.group(1)) if m else -1

        for pr in sorted(prs, key=number, reverse=True)[:_CHECK_PRS]:
            found = _ours_on(ctx, pr.ref, str(pr.target_commit), parent, title, adds, dels)
            if found is not None:
                base = commit_url(client, ref, None)
                return CommitResult(
                    found, f"{base}/commit/{found}", f"{base}/discussions/{number(pr)}", pr.ref
                )
        return None
    try:
        head = client.repo_info(ref, revision=revision).sha
    except RevisionNotFoundError:
        return None
    if head is None or head == parent:
        return None
    found = _ours_on(ctx, revision, head, parent, title, adds, dels)
    return None if found is None else CommitResult(found, commit_url(client, ref, found))


def _ours_on(
    ctx: UploadContext,
    revision: str,
    head: str,
    parent: str | None,
    title: str,
    adds: list[Item],
    dels: list[FileResult],
) -> str | None:
    """Our commit's id among the commits of ``revision`` after ``parent``, if ``head`` holds
    its files."""
    found: str | None = None
    for i, c in enumerate(ctx.client.list_commits(ctx.ref, revision=revision)):
        cid = str(c.get("id") or "")
        if (parent and cid == parent) or i >= _CHECK_COMMITS:
            break
        if c.get("title") == title:
            found = cid
            break
    if not found or not _holds(ctx, head, adds, dels):
        return None
    return found


def _holds(ctx: UploadContext, head: str, adds: list[Item], dels: list[FileResult]) -> bool:
    """Whether commit ``head`` has every added file with our id and none of the deleted."""
    want: dict[str, tuple[str, str | None]] = {
        it.file.path_in_repo: (it.mode, it.sha256 if it.mode == "lfs" else it.sha1) for it in adds
    }
    gone = {d.path for d in dels}
    paths = [*want, *gone]
    for i in range(0, len(paths), _CHECK_PATHS):
        chunk = paths[i : i + _CHECK_PATHS]
        try:
            entries = ctx.client.paths_info(ctx.ref, revision=head, paths=chunk)
        except NotFoundError:
            entries = []
        have = {e.path: e for e in entries}
        for path in chunk:
            e = have.get(path)
            if path in gone:
                if e is not None:
                    return False
                continue
            mode, oid = want[path]
            if e is None or oid != (e.lfs_sha256 if mode == "lfs" else e.blob_id):
                return False
    return True


# -- all of them --------------------------------------------------------------------------------
def commit_all(
    ctx: UploadContext,
    groups: list[Batch],
    message: str,
    description: str,
    *,
    on_commit: Callable[[CommitResult, Batch], None] | None = None,
) -> list[CommitResult]:
    """Commit ``groups`` in order (the first with ``ctx.create_pr``), splitting a batch in two
    when it was refused as too large or failed without landing. Later commits are titled
    ``… (part N)``; the PR of the first commit receives the others."""
    queue: deque[Batch] = deque(g for g in groups if g[0] or g[1])
    done: list[CommitResult] = []
    target = ctx.revision
    failures = 0
    session = ctx.client.session
    while queue:
        batch = queue.popleft()
        n = len(done) + 1
        title = message if n == 1 else f"{message} (part {n})"
        use_pr = ctx.create_pr and n == 1
        try:
            res = commit_batch(ctx, target, title, description, *batch, use_pr)
        except RetryCommit as retry:
            size = len(batch[0]) + len(batch[1])
            if size > 1:  # halving is bounded (log2 of the size): it spends no retry
                first, second = halves(batch)
                queue.appendleft(second)
                queue.appendleft(first)
                why = "was too large" if retry.too_large else "failed"
                ctx.say(f"The commit of {size} files {why}; sending it as two halves…")
                continue
            failures += 1
            if retry.too_large or failures > session.max_retries:
                raise retry.cause from None
            session.sleep(session.backoff_delay(failures - 1))
            queue.appendleft(batch)
            continue
        done.append(res)
        if use_pr and res.pr_revision:
            target = res.pr_revision
        ctx.head = res.commit_oid
        if on_commit is not None:
            on_commit(res, batch)
    return done


def commit_url(client: HubClient, ref: RepoRef, oid: str | None) -> str:
    base = f"{client.endpoint}/{ref.url_prefix}{ref.repo_id}"
    return f"{base}/commit/{oid}" if oid else base
