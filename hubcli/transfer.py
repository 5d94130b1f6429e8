"""The byte mover: one remote file into a verified ``.incomplete`` file on disk.

:class:`Transfer` streams a resolve URL into a temp file while hashing it, resumes from the bytes
already on disk (across runs: the temp name is deterministic and guarded by the caller's lock),
resumes a connection dropped mid-body from the last byte received, restarts cleanly when a server
ignores ``Range``, follows the LFS redirect to a CDN without the token, and fetches big files as
several concurrent ``Range`` requests into one preallocated file (progress of each part is kept in a
small ``<name>.ranges.incomplete`` state file so a killed run resumes). The content is checked
against its etag (sha256 for 64-hex etags, git blob sha1 for 40-hex ones) before the caller is
allowed to move it into place; a mismatch deletes the bad bytes and raises IntegrityError.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubcli.errors import (
    IntegrityError,
    LocalFileError,
    NetworkError,
    ProtocolError,
    UnsafePathError,
)
from hubcli.hashing import ContentId, Sha256, hasher_for, parse_etag
from hubcli.liveness import STALL, StallMeter, Watch, current_watch, watching
from hubcli.progress import NullProgress, Progress

if TYPE_CHECKING:
    import requests

    from hubcli.http import HubSession

MiB = 1024 * 1024
READ_SIZE = 1 * MiB
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a link planted at a partial's name is never followed
DEFAULT_RANGE_THRESHOLD = 64 * MiB
DEFAULT_PART_SIZE = 16 * MiB
DEFAULT_RANGE_WORKERS = 8
STATE_SAVE_INTERVAL = 0.5
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class Cancelled(Exception):
    """The transfer was cancelled (Ctrl-C in another thread); partial bytes are kept."""


class ContentHash:
    """The hash an etag promises: sha256 for 64-hex (LFS) etags, git blob sha1 for 40-hex ones.

    Any other etag is refused here (ProtocolError): nothing is ever placed unverified.
    """

    def __init__(self, etag: str, size: int) -> None:
        self.etag: ContentId = parse_etag(etag, what="etag")
        self.size = size
        self._h = hasher_for(self.etag, size)

    @property
    def algorithm(self) -> str:
        return "sha256" if isinstance(self.etag, Sha256) else "git-sha1"

    def reset(self) -> None:
        self._h = hasher_for(self.etag, self.size)

    def update(self, data: bytes | memoryview) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def matches(self) -> bool:
        return self._h.hexdigest() == self.etag


def file_matches_etag(path: Path, etag: str, size: int) -> bool:
    """True if the file at ``path`` has ``size`` bytes and hashes to ``etag``."""
    try:
        if os.path.getsize(path) != size:
            return False
        hasher = ContentHash(etag, size)
        with open(path, "rb") as fh:
            while chunk := fh.read(READ_SIZE):
                hasher.update(chunk)
    except OSError:
        return False
    return hasher.matches()


def state_path_for(tmp: Path) -> Path:
    """The ranged-download state file that goes with a temp file (also ``*.incomplete``)."""
    name = tmp.name[: -len(".incomplete")] if tmp.name.endswith(".incomplete") else tmp.name
    return tmp.with_name(f"{name}.ranges.incomplete")


def discard_partial(tmp: Path) -> None:
    """Delete a temp file and its ranged state (state first, so a leftover is never misread)."""
    for p in (state_path_for(tmp), tmp):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


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
    m = _CONTENT_RANGE.match(value or "")
    return int(m.group(1)) if m else None


def disk_error(path: Path, exc: OSError) -> LocalFileError | UnsafePathError:
    if exc.errno == errno.ELOOP:
        return UnsafePathError(
            f"Refusing to write through a symbolic link at {path}.",
            hint="Something planted a link where a partial download belongs; remove it.",
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return LocalFileError(
            f"Disk full while writing {path} ({exc.strerror}).",
            hint="Free some space (or use --cache-dir elsewhere) and rerun: the download resumes.",
        )
    return LocalFileError(f"Cannot write {path}: {exc.strerror or exc}.")


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


@dataclass
class FetchResult:
    """What one fetch cost: bytes over the network, bytes reused from disk, who served."""

    fetched_bytes: int = 0
    reused_bytes: int = 0
    ranged: bool = False
    served_by: str | None = None


class Transfer:
    """Moves bytes for one download run: pooled session, mirror order, ranges, resume, hashing.

    ``bases`` is the ordered list of hub URLs to try for relative resolve paths (the endpoint then
    the mirrors); the one that answers is promoted to the front for the next requests.

    Liveness: every file (every part of a ranged one) is read under a stall watch (see
    :mod:`hubcli.liveness`); a stalled connection is cut and counts as a failed attempt, and
    ``max_attempts`` attempts in a row without progress (the durable offset did not move past its
    best, or the stream was stalled) end the fetch with NetworkError (exit 5).
    """

    def __init__(
        self,
        session: HubSession,
        *,
        bases: list[str] | None = None,
        range_threshold: int = DEFAULT_RANGE_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        range_workers: int = DEFAULT_RANGE_WORKERS,
        max_attempts: int | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.session = session
        self.bases = list(bases or [session.endpoint, *session.mirrors])
        self.range_threshold = max(1, range_threshold)
        self.part_size = max(1, part_size)
        self.range_workers = max(1, range_workers)
        # Attempts in a row without progress before giving up (HUBCLI_MAX_ATTEMPTS).
        limit = session.settings.max_attempts if max_attempts is None else max_attempts
        self.max_attempts = max(1, limit)
        self.progress: Progress = progress or NullProgress()
        self.cancel = cancel or threading.Event()
        self.sleep = sleep or session.sleep
        self.served: list[str] = []
        self._lock = threading.Lock()

    # -- requests ---------------------------------------------------------------------------
    def _ordered_bases(self) -> list[str]:
        with self._lock:
            return list(self.bases)

    def _promote(self, base: str) -> None:
        with self._lock:
            if self.bases and self.bases[0] != base and base in self.bases:
                self.bases.remove(base)
                self.bases.insert(0, base)
            if base not in self.served:
                self.served.append(base)

    def open(self, target: str, *, headers: dict[str, str], what: str) -> requests.Response:
        """GET ``target`` streaming: an absolute URL as is, a relative path via base failover.

        Raises NetworkError when every base failed (after the session's retries), and the mapped
        HubError for any other error status.
        """
        if target.startswith(("http://", "https://")):
            return self.session.request("GET", target, headers=headers, stream=True, what=what)
        last: NetworkError | None = None
        for base in self._ordered_bases():
            try:
                resp = self.session.request(
                    "GET", base + target, headers=headers, stream=True, what=what
                )
            except NetworkError as exc:
                last = exc
                continue
            self._promote(base)
            return resp
        assert last is not None
        raise last

    def stream_into(
        self,
        resp: requests.Response,
        fd: int,
        *,
        offset: int,
        limit: int,
        path: Path,
        hasher: ContentHash | None,
        key: str,
        on_write: Callable[[int], None] | None = None,
    ) -> tuple[int, BaseException | None]:
        """Copy up to ``limit`` body bytes to ``fd`` at ``offset``; return (bytes, transport error).

        Reads under the thread's current watch: a stall cuts the connection and ends the copy
        early (the watch's ``reason`` says so). Raises LocalFileError for disk errors and
        Cancelled when the run is being cancelled.
        """
        import requests
        import urllib3

        from hubcli.http import response_socket

        transport_errors = (urllib3.exceptions.HTTPError, requests.RequestException, OSError)
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
            except transport_errors as exc:
                return got, exc
            if not data:
                break
            if meter is not None:
                meter.add(len(data))
            try:
                _pwrite_all(fd, data, offset + got)
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
        """Where a user-set rate limit (a later ``--limit-rate``) waits after ``nbytes``.

        Such a wait must run inside ``meter.excluded()`` so it never counts as a stall.
        """

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

    # -- the public entry -------------------------------------------------------------------
    def fetch(
        self, *, target: str, tmp: Path, size: int, etag: str, key: str, label: str
    ) -> FetchResult:
        """Fetch ``target`` (a relative resolve path or a URL) into ``tmp`` and verify it.

        On return ``tmp`` holds exactly ``size`` bytes matching ``etag``. A hash or size mismatch
        deletes the bytes and raises IntegrityError; network failures raise NetworkError and keep
        the partial file for the next run; disk errors raise LocalFileError.
        """
        result = FetchResult()
        self.progress.file_start(key, label=label, size=size)
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            state = state_path_for(tmp)
            use_ranges = size >= self.range_threshold and size > self.part_size
            if state.exists() or use_ranges:
                from hubcli.ranged import RangedFetch

                RangedFetch(self).run(target, tmp, size, etag, key, label, result)
            else:
                self.fetch_sequential(target, tmp, size, etag, key, label, result, first=None)
        finally:
            self.progress.file_done(key)
        with self._lock:
            result.served_by = self.bases[0] if self.bases else None
        return result

    # -- one stream -------------------------------------------------------------------------
    def fetch_sequential(
        self,
        target: str,
        tmp: Path,
        size: int,
        etag: str,
        key: str,
        label: str,
        result: FetchResult,
        *,
        first: requests.Response | None,
    ) -> None:
        hasher = ContentHash(etag, size)
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | O_NOFOLLOW, 0o666)
        except OSError as exc:
            raise disk_error(tmp, exc) from exc
        try:
            have = os.fstat(fd).st_size
            if have > size:
                os.ftruncate(fd, 0)
                have = 0
            if have:
                pos = 0
                while pos < have:
                    chunk = os.pread(fd, min(READ_SIZE, have - pos), pos)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    pos += len(chunk)
                result.reused_bytes = have
                self.progress.advance(key, have)
            with watching(self.session.file_watch()) as watch:
                self._sequential_attempts(
                    target, fd, tmp, have, size, hasher, key, label, result, first, watch
                )
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        self.verify_or_discard(tmp, hasher, size, label)

    def _sequential_attempts(
        self,
        target: str,
        fd: int,
        tmp: Path,
        offset: int,
        size: int,
        hasher: ContentHash,
        key: str,
        label: str,
        result: FetchResult,
        resp: requests.Response | None,
        watch: Watch,
    ) -> None:
        best = offset
        failures = 0
        while offset < size:
            if resp is None:
                headers = {"Range": f"bytes={offset}-"} if offset else {}
                resp = self.open(target, headers=headers, what=label)
            try:
                offset = self._accept_start(resp, fd, offset, hasher, key, label, result)
                got, drop = self.stream_into(
                    resp, fd, offset=offset, limit=size - offset, path=tmp, hasher=hasher, key=key
                )
            finally:
                resp.close()
                resp = None
            offset += got
            result.fetched_bytes += got
            if offset >= size:
                return
            failures = 0 if self.progressed(watch, offset, best) else failures + 1
            best = max(best, offset)
            self.retry_or_raise(failures, label, drop, watch)

    def _accept_start(
        self,
        resp: requests.Response,
        fd: int,
        offset: int,
        hasher: ContentHash,
        key: str,
        label: str,
        result: FetchResult,
    ) -> int:
        """Where this answer's body starts: ``offset`` for a matching 206, 0 for a 200 (the server
        ignored Range: the partial is reset). A 206 elsewhere, or headers that contradict the
        listing's size, are a ProtocolError."""
        check_body_size(resp, hasher.size, label)
        if resp.status_code == 200 and offset:
            os.ftruncate(fd, 0)
            hasher.reset()
            self.progress.advance(key, -offset)
            result.reused_bytes = 0
            return 0
        if resp.status_code == 206:
            start = content_range_start(resp.headers.get("Content-Range"))
            if start != offset:
                raise ProtocolError(
                    f"{label}: asked for bytes from {offset}, the server sent "
                    f"{resp.headers.get('Content-Range')!r}."
                )
        return offset

    def verify_or_discard(self, tmp: Path, hasher: ContentHash, size: int, label: str) -> None:
        actual = os.path.getsize(tmp)
        if actual != size or not hasher.matches():
            discard_partial(tmp)
            what = (
                f"size {actual} instead of {size}"
                if actual != size
                else f"{hasher.algorithm} {hasher.hexdigest()} instead of {hasher.etag}"
            )
            raise IntegrityError(
                f"{label}: downloaded content does not match its etag ({what}); "
                "the bad bytes were deleted.",
                hint="Rerun to fetch it again; if it persists, the server or a proxy corrupts it.",
            )
