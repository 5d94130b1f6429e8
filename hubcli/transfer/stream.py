"""Streams: open a file body through the mirror order and copy it to disk under the stall rules.

:class:`Streams` is what both fetch paths share for one run: GET with mirror failover (the base
that answers is tried first next time), the copy loop (stall watch, cancel, progress), the check
that an answer's headers agree with the listing, and the attempt cap.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

import requests

from hubcli.errors import NetworkError, ProtocolError
from hubcli.hashing import ContentHasher
from hubcli.http import TRANSPORT_ERRORS, HubSession, Mirrors, NextMirror, response_socket
from hubcli.liveness import STALL, StallMeter, Watch, current_watch
from hubcli.progress import NullProgress, Progress
from hubcli.transfer.job import READ_SIZE, Cancelled
from hubcli.transfer.partial import disk_error, pwrite_all
from hubcli.transfer.ratelimit import TokenBucket, parse_limit_rate, process_bucket

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


def check_body_size(resp: requests.Response, size: int, label: str) -> None:
    """Refuse an answer whose headers contradict the listing's size (a lying header, exit 5):
    a 200 whose ``Content-Length`` is not the file size, a 206 whose ``Content-Range`` total is
    not the file size or whose ``Content-Length`` is not the length of the range it names."""
    raw_length = resp.headers.get("Content-Length")
    length = None
    if raw_length is not None:
        if not raw_length.strip().isdigit():
            raise ProtocolError(f"{label}: the server sent Content-Length {raw_length[:40]!r}.")
        length = int(raw_length)
    if resp.status_code == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
        if m is None:
            return  # the caller names a missing or malformed Content-Range
        first, last, total = int(m.group(1)), int(m.group(2)), m.group(3)
        if total != "*" and int(total) != size:
            raise ProtocolError(
                f"{label}: the listing says {size} bytes, the server's Content-Range says {total}."
            )
        if last < first or (length is not None and length != last - first + 1):
            raise ProtocolError(
                f"{label}: Content-Length {length} does not match Content-Range "
                f"{resp.headers.get('Content-Range')!r}."
            )
    elif resp.status_code == 200 and length is not None and length != size:
        raise ProtocolError(
            f"{label}: the listing says {size} bytes, the server's Content-Length says {length}."
        )


def content_range_start(value: str | None) -> int | None:
    """The first byte a ``Content-Range`` header names (None when it is missing or malformed)."""
    m = _CONTENT_RANGE.match(value or "")
    return int(m.group(1)) if m else None


class Streams:
    """Opens and reads file bodies for one run: pooled session, mirror order, attempt cap.

    Liveness: every body is read under the thread's stall watch (see :mod:`hubcli.liveness`); a
    stalled connection is cut and counts as a failed attempt, and ``max_attempts`` attempts in a
    row without progress end the fetch with NetworkError (exit 5).
    """

    def __init__(
        self,
        session: HubSession,
        *,
        mirrors: Mirrors,
        max_attempts: int,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.session = session
        self.mirrors = mirrors
        self.max_attempts = max(1, max_attempts)
        self.progress: Progress = progress or NullProgress()
        self.cancel = cancel or threading.Event()
        self.sleep = sleep or session.sleep
        rate = parse_limit_rate(session.settings.limit_rate)
        self.bucket: TokenBucket | None = process_bucket(rate) if rate is not None else None

    def file_watch(self) -> Watch:
        """A fresh stall-only watch for one file body (or one ranged part)."""
        return self.session.file_watch()

    def open(self, target: str, *, headers: dict[str, str], what: str) -> requests.Response:
        """GET ``target`` streaming: an absolute URL as is, a relative path via the mirror order.

        Raises NetworkError when every base failed (after the session's retries), and the mapped
        HubError for any other error status.
        """
        if target.startswith(("http://", "https://")):
            return self.session.request("GET", target, headers=headers, stream=True, what=what)

        def attempt(base: str, _is_last: bool) -> requests.Response:
            try:
                return self.session.request(
                    "GET", base + target, headers=headers, stream=True, what=what
                )
            except NetworkError as exc:
                raise NextMirror(exc) from None

        return self.mirrors.call(attempt)

    def stream_into(
        self,
        resp: requests.Response,
        fd: int,
        *,
        offset: int,
        limit: int,
        path: Path,
        hasher: ContentHasher | None,
        key: str,
        on_write: Callable[[int], None] | None = None,
    ) -> tuple[int, BaseException | None]:
        """Copy up to ``limit`` body bytes to ``fd`` at ``offset``; return (bytes, transport error).

        Reads under the thread's current watch: a stall cuts the connection and ends the copy
        early (the watch's ``reason`` says so). Raises LocalFileError for disk errors and
        Cancelled when the run is being cancelled.
        """
        watch = current_watch()
        meter = watch.meter if watch is not None else None
        if watch is not None:
            watch.attach(response_socket(resp))
        raw = resp.raw
        got = 0
        while got < limit:
            if self.cancel.is_set():
                raise Cancelled()
            try:
                data = raw.read1(min(READ_SIZE, limit - got))
            except TRANSPORT_ERRORS as exc:
                return got, exc
            if not data:
                break
            if meter is not None:
                meter.add(len(data))
            try:
                pwrite_all(fd, data, offset + got)
            except OSError as exc:
                raise disk_error(path, exc) from exc
            if hasher is not None:
                hasher.update(data)
            got += len(data)
            if on_write is not None:
                on_write(len(data))
            self.progress.advance(key, len(data))
            self.pace(len(data), meter)
            if watch is not None and watch.check() is not None:
                break
        return got, None

    def pace(self, nbytes: int, meter: StallMeter | None) -> None:
        """Wait as ``--limit-rate`` asks after ``nbytes`` arrived (see :mod:`.ratelimit`).

        The wait runs inside ``meter.excluded()`` so it never counts as a stall, and ends early
        when the run is cancelled.
        """
        if self.bucket is None:
            return
        wait = self.bucket.reserve(nbytes)
        if wait <= 0:
            return
        if meter is None:
            self.cancel.wait(wait)
            return
        with meter.excluded():
            self.cancel.wait(wait)

    def retry_or_raise(
        self, failures: int, label: str, cause: BaseException | None, watch: Watch
    ) -> None:
        """After a failed attempt: give up when ``failures`` in a row reach the cap, else wait."""
        if failures >= self.max_attempts:
            if watch.reason == STALL and watch.meter is not None:
                why = f"the connection stalled: {watch.meter.describe()}"
            else:
                why = "the connection kept dropping"
            raise NetworkError(
                f"{label}: {failures} attempts in a row without progress ({why}).",
                hint="Rerun the command: the download resumes from the bytes already on disk.",
            ) from cause
        self.sleep(self.session.backoff_delay(max(0, failures - 1)))

    @staticmethod
    def progressed(watch: Watch, offset: int, best: int) -> bool:
        """An attempt made progress: the durable offset passed its best and nothing stalled."""
        stalled = watch.reason is not None or (watch.meter is not None and watch.meter.stalled())
        return offset > best and not stalled
