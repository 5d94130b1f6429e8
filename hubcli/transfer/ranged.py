"""Ranged fetch: one big file fetched as several concurrent Range requests into one file.

The file is preallocated as ``<name>.incomplete``; each part's progress is kept in
``<name>.ranges.incomplete`` (written before the data file exists, rewritten twice a second) so a
killed run resumes every part where it stopped. The content is hashed in order while the
contiguous prefix grows, then verified against the etag like any other download. A server that
ignores Range falls back to :func:`~hubcli.transfer.sequential.fetch_sequential`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import requests

from hubcli.errors import (
    AuthError,
    HTTPStatusError,
    IntegrityError,
    NetworkError,
    NotFoundError,
    ProtocolError,
)
from hubcli.hashing import ContentHasher
from hubcli.liveness import Watch, watching
from hubcli.transfer.adaptive import Concurrency
from hubcli.transfer.job import READ_SIZE, STATE_SAVE_INTERVAL, Cancelled, FetchJob, FetchResult
from hubcli.transfer.partial import (
    O_NOFOLLOW,
    discard_partial,
    disk_error,
    load_range_state,
    save_range_state,
    state_path_for,
    verify_or_discard,
)
from hubcli.transfer.sequential import fetch_sequential
from hubcli.transfer.stream import Streams, check_body_size, content_range_start


@dataclass
class _Ranged:
    """Shared state of one ranged download (parts, progress per part, errors)."""

    job: FetchJob
    part_size: int
    done: list[int]
    cond: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[int] = field(default_factory=deque)
    location: str | None = None
    error: BaseException | None = None
    stop: bool = False
    live: int = 0
    frontier_part: int = 0
    fetched: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    def bounds(self, part: int) -> tuple[int, int]:
        start = part * self.part_size
        return start, min(self.job.size, start + self.part_size)

    def frontier(self) -> int:
        """Bytes contiguous from offset 0 that are on disk. Caller holds ``cond``."""
        n = len(self.done)
        p = self.frontier_part
        while p < n:
            start, end = self.bounds(p)
            if start + self.done[p] < end:
                break
            p += 1
        self.frontier_part = p
        if p >= n:
            return self.job.size
        return self.bounds(p)[0] + self.done[p]


class RangedFetch:
    """One ranged download run over a run's :class:`~hubcli.transfer.stream.Streams`."""

    def __init__(self, streams: Streams, *, part_size: int, streams_budget: Concurrency) -> None:
        self.x = streams
        self.part_size = part_size
        self.budget = streams_budget

    def _save_state(self, ctx: _Ranged) -> None:
        with ctx.cond:
            done = list(ctx.done)
        job = ctx.job
        save_range_state(job.tmp, etag=job.etag, size=job.size, part_size=ctx.part_size, done=done)

    def run(self, job: FetchJob, result: FetchResult) -> None:
        tmp, size = job.tmp, job.size
        state = state_path_for(tmp)
        done = (
            load_range_state(tmp, size=size, etag=job.etag, part_size=self.part_size)
            if tmp.exists()
            else None
        )
        prefix = 0
        if done is None and tmp.exists() and not state.exists():
            # A plain-stream partial from an earlier run: its bytes are a valid prefix.
            with contextlib.suppress(OSError):
                prefix = os.path.getsize(tmp)
            if prefix > size:
                prefix = 0
        ctx = _Ranged(
            job=job,
            part_size=self.part_size,
            done=done or [0] * (-(-size // self.part_size)),
        )
        if done is None:
            if prefix:
                ctx.done = [
                    max(0, min(prefix, end) - start)
                    for start, end in (ctx.bounds(p) for p in range(len(ctx.done)))
                ]
            else:
                discard_partial(tmp)
            self._save_state(ctx)  # the state file exists before the preallocated data does
            try:
                fd = os.open(tmp, os.O_RDWR | os.O_CREAT | O_NOFOLLOW, 0o666)
                try:
                    try:
                        os.posix_fallocate(fd, 0, size)
                    except (AttributeError, OSError) as exc:
                        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                            raise
                        os.ftruncate(fd, size)
                finally:
                    os.close(fd)
            except OSError as exc:
                discard_partial(tmp)
                raise disk_error(tmp, exc) from exc
        reused = sum(ctx.done)
        result.reused_bytes = reused
        result.ranged = True
        if reused:
            self.x.progress.advance(job.key, reused)
        pending = [
            p for p in range(len(ctx.done)) if ctx.bounds(p)[0] + ctx.done[p] < ctx.bounds(p)[1]
        ]
        if pending:
            p0 = pending[0]
            start, end = ctx.bounds(p0)
            pos = start + ctx.done[p0]
            watch0 = self.x.file_watch()
            with watching(watch0):
                first = self.x.open(
                    job.target, headers={"Range": f"bytes={pos}-{end - 1}"}, what=job.label
                )
            if first.status_code == 200:
                # The server ignores Range: fall back to one plain stream of this full body.
                discard_partial(tmp)
                self.x.progress.advance(job.key, -reused)
                result.reused_bytes = 0
                result.ranged = False
                fetch_sequential(self.x, job, result, first=first)
                return
            if first.history:
                ctx.location = first.url  # the CDN URL: later parts go there directly
            ctx.queue.extend(pending[1:])
            with ctx.cond:
                self._start_worker(ctx, (p0, first, watch0))
                self._grow(ctx)
        hasher = ContentHasher(job.etag, size)
        try:
            self._hash_frontier(ctx, hasher)
        except BaseException as exc:
            with ctx.cond:
                ctx.stop = True
                if ctx.error is None:
                    ctx.error = exc
        finally:
            for t in list(ctx.threads):
                t.join()
            result.fetched_bytes += ctx.fetched
        if ctx.error is not None:
            self._save_state(ctx)
            raise ctx.error
        verify_or_discard(tmp, hasher, size, job.label)

    def _start_worker(
        self, ctx: _Ranged, first: tuple[int, requests.Response, Watch] | None = None
    ) -> None:
        """One more part worker. Caller holds ``cond``."""
        t = threading.Thread(
            target=self._part_worker,
            args=(ctx, first),
            daemon=True,
            name=f"range-{len(ctx.threads)}",
        )
        ctx.live += 1
        ctx.threads.append(t)
        t.start()

    def _grow(self, ctx: _Ranged) -> None:
        """Run as many part workers as the stream budget says (never more than parts left).
        Caller holds ``cond``."""
        want = self.budget.observe(ctx.fetched)
        while ctx.live < want and len(ctx.queue) > 0 and not ctx.stop and ctx.error is None:
            self._start_worker(ctx)

    def _hash_frontier(self, ctx: _Ranged, hasher: ContentHasher) -> None:
        """Hash the file in order as the contiguous prefix grows; save the state now and then."""
        hashed = 0
        size = ctx.job.size
        last_save = time.monotonic()
        rfd = os.open(ctx.job.tmp, os.O_RDONLY | O_NOFOLLOW)
        try:
            while hashed < size:
                with ctx.cond:
                    while True:
                        if self.budget.growing:
                            self._grow(ctx)
                        frontier = ctx.frontier()
                        if frontier > hashed or ctx.error is not None or ctx.live == 0:
                            break
                        ctx.cond.wait(min(STATE_SAVE_INTERVAL, self.budget.interval))
                    if ctx.error is not None:
                        return
                if frontier <= hashed:
                    raise NetworkError(f"{ctx.job.label}: the ranged download stopped early.")
                while hashed < frontier:
                    chunk = os.pread(rfd, min(READ_SIZE, frontier - hashed), hashed)
                    if not chunk:
                        raise IntegrityError(f"{ctx.job.label}: the partial file shrank on disk.")
                    hasher.update(chunk)
                    hashed += len(chunk)
                now = time.monotonic()
                if now - last_save >= STATE_SAVE_INTERVAL:
                    self._save_state(ctx)
                    last_save = now
                if self.x.cancel.is_set():
                    raise Cancelled()
        finally:
            os.close(rfd)

    def _next_part(self, ctx: _Ranged) -> int | None:
        """The next part to fetch; None when none is left, or when more workers run than the
        stream budget now wants. On None the worker is counted out here, under the lock, so that
        workers leaving at once never leave parts with nobody to fetch them."""
        with ctx.cond:
            if ctx.stop or ctx.error is not None or not ctx.queue or ctx.live > self.budget.target:
                ctx.live -= 1
                ctx.cond.notify_all()
                return None
            return ctx.queue.popleft()

    def _part_worker(
        self, ctx: _Ranged, first: tuple[int, requests.Response, Watch] | None
    ) -> None:
        fd = -1
        counted_out = False
        try:
            fd = os.open(ctx.job.tmp, os.O_WRONLY | O_NOFOLLOW)
            if first is not None:
                with watching(first[2]) as watch:
                    self._run_part(ctx, fd, first[0], first[1], watch)
            while (part := self._next_part(ctx)) is not None:
                with watching(self.x.file_watch()) as watch:
                    self._run_part(ctx, fd, part, None, watch)
            counted_out = True
        except BaseException as exc:
            if first is not None:
                first[1].close()
            with ctx.cond:
                ctx.stop = True
                if ctx.error is None:
                    ctx.error = exc
        finally:
            if fd >= 0:
                os.close(fd)
            if not counted_out:
                with ctx.cond:
                    ctx.live -= 1
                    ctx.cond.notify_all()

    def _open_part(self, ctx: _Ranged, pos: int, end: int) -> requests.Response:
        headers = {"Range": f"bytes={pos}-{end - 1}"}
        if ctx.location:
            try:
                return self.x.open(ctx.location, headers=headers, what=ctx.job.label)
            except (AuthError, NotFoundError, HTTPStatusError):
                ctx.location = None  # a signed CDN URL expired: resolve again
        resp = self.x.open(ctx.job.target, headers=headers, what=ctx.job.label)
        if resp.history:
            ctx.location = resp.url
        return resp

    def _run_part(
        self, ctx: _Ranged, fd: int, part: int, resp: requests.Response | None, watch: Watch
    ) -> None:
        """Fetch one part under its own stall watch; a part's offset only moves forward."""
        job = ctx.job
        start, end = ctx.bounds(part)
        failures = 0
        best = start + ctx.done[part]

        def on_write(n: int) -> None:
            with ctx.cond:
                ctx.done[part] += n
                ctx.fetched += n
                ctx.cond.notify_all()

        while True:
            with ctx.cond:
                if ctx.stop:
                    if resp is not None:
                        resp.close()
                    return
                pos = start + ctx.done[part]
            if pos >= end:
                if resp is not None:
                    resp.close()
                return
            if resp is None:
                resp = self._open_part(ctx, pos, end)
            try:
                if resp.status_code != 206:
                    raise ProtocolError(
                        f"{job.label}: the server stopped honouring Range (status "
                        f"{resp.status_code}) in the middle of a ranged download."
                    )
                check_body_size(resp, job.size, job.label)
                cr_start = content_range_start(resp.headers.get("Content-Range"))
                if cr_start != pos:
                    raise ProtocolError(
                        f"{job.label}: asked for bytes from {pos}, the server sent "
                        f"{resp.headers.get('Content-Range')!r}."
                    )
                got, drop = self.x.stream_into(
                    resp,
                    fd,
                    offset=pos,
                    limit=end - pos,
                    path=job.tmp,
                    hasher=None,
                    key=job.key,
                    on_write=on_write,
                )
            finally:
                resp.close()
                resp = None
            if pos + got >= end:
                return
            failures = 0 if self.x.progressed(watch, pos + got, best) else failures + 1
            best = max(best, pos + got)
            self.x.retry_or_raise(failures, job.label, drop, watch)
