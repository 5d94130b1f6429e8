"""The kinds of LFS files by content, read with HTTP ``Range`` requests at the locked commit.

``lock`` does not download LFS files, yet a pickle may be called ``model.safetensors`` and a
``.bin`` may hold safetensors. :func:`probe_kinds` reads, for each LFS file, only what
:func:`hubcli.lock.policy.classify` needs:

1. the head: ``Range: bytes=0-4095`` through the commit-pinned resolve URL (the Hub redirects
   LFS files to its CDN; the session sends the token to the endpoint's origin only);
2. for a zip only (``PK\\x03\\x04``): the tail (the last 4 KiB, or ``bytes=-65557`` when the
   end-of-central-directory record is not in them, i.e. a long zip comment);
3. and the central directory when the tail does not hold it all (at most 1 MiB, else the
   extension decides).

So 1 request (4 KiB) per file, and at most 4 for a zip. Later reads go straight to the CDN
URL the first one was redirected to. A server that ignores ``Range`` (200) is read for the
head's bytes only and the connection is closed; its zips fall back to the extension. Any error
(network, status, a reply that does not match the range) means the content could not be read:
the extension decides (:func:`hubcli.lock.policy.by_extension`) and ``on_fallback`` is told.
Files are probed in a small thread pool; the result does not depend on their order.
"""

from __future__ import annotations

import concurrent.futures
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hubcli.errors import HubError
from hubcli.lock.policy import HEAD_BYTES, by_extension, classify
from hubcli.repo import RepoRef, display_id, resolve_path

if TYPE_CHECKING:
    from hubcli.http.session import HubSession
    from hubcli.models import FileEntry

MAX_PARALLEL_PROBES = 4
TAIL_BYTES = 4096
"""The first tail read of a zip: the end-of-central-directory record and a small directory."""
MAX_TAIL_BYTES = (1 << 16) + 22
"""What ``zipfile`` reads from the end of a zip with a comment (the longest comment is 65535
bytes, the end record 22)."""
MAX_CENTRAL_DIRECTORY = 1 << 20
"""A central directory bigger than this is not read: the extension decides."""

_ZIP_HEADS = (b"PK\x03\x04", b"PK\x05\x06")
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_EOCD = b"PK\x06\x06"
_ZIP64_EOCD_SIZE = 56


class Unreadable(OSError):
    """The bytes asked for could not be read (the caller falls back to the extension)."""


class _Reader:
    """Ranged reads of one LFS file at one commit; the bytes read are kept for ``read_at``."""

    def __init__(self, session: HubSession, ref: RepoRef, commit: str, entry: FileEntry) -> None:
        self.session = session
        self.target = resolve_path(ref, commit, entry.path)
        self.size = entry.size
        self.label = f"{display_id(ref.repo_id, ref.repo_type)}@{commit[:12]}: {entry.path}"
        self.location: str | None = None  # the CDN URL the resolve URL redirected to
        self.segments: list[tuple[int, bytes]] = []
        self.requests = 0

    # -- network --------------------------------------------------------------------------------
    def fetch(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of the file (one GET with ``Range``), also kept for read_at."""
        from hubcli.liveness import watching
        from hubcli.transfer.stream import content_range_start

        if not 0 <= start < end <= self.size:
            raise Unreadable(f"{self.label}: bytes {start}-{end} are not in the file")
        self.requests += 1
        headers = {"Range": f"bytes={start}-{end - 1}"}
        with watching(self.session.file_watch()) as watch:
            if self.location is not None:
                resp = self.session.request(
                    "GET", self.location, headers=headers, stream=True, what=self.label
                )
            else:
                resp = self.session.request(
                    "GET",
                    self.target,
                    headers=headers,
                    stream=True,
                    what=self.label,
                    mirrors=self.session.mirrors_order(),
                )
                if resp.history:
                    self.location = resp.url
            try:
                if resp.status_code == 200:
                    # Range ignored: the body is the whole file. Take its first bytes, if they
                    # are the ones asked for, and hang up rather than read the rest.
                    if start != 0:
                        raise Unreadable(f"{self.label}: the server ignores Range")
                elif resp.status_code == 206:
                    if content_range_start(resp.headers.get("Content-Range")) != start:
                        raise Unreadable(
                            f"{self.label}: asked for bytes {start}-{end - 1}, the server "
                            f"sent Content-Range {resp.headers.get('Content-Range')!r}"
                        )
                else:
                    raise Unreadable(f"{self.label}: status {resp.status_code} to a ranged GET")
                data = self.session.read_body(
                    resp, watch, limit=end - start, label=self.label, truncate=True
                )
            finally:
                resp.close()
        if len(data) != end - start:
            raise Unreadable(f"{self.label}: {len(data)} bytes sent for {end - start} asked")
        self.segments.append((start, data))
        return data

    # -- for classify ---------------------------------------------------------------------------
    def read_at(self, offset: int, length: int) -> bytes:
        """What was fetched from ``offset`` on (at most ``length`` bytes; a short read is fine
        for a raw file). Never a request: a byte not fetched means the zip is not as expected."""
        for start, data in self.segments:
            if start <= offset < start + len(data):
                return data[offset - start : offset - start + length]
        raise Unreadable(f"{self.label}: byte {offset} was not read")

    def get(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``: from what was read, else one ranged GET."""
        for s, d in self.segments:
            if s <= start and end <= s + len(d):
                return d[start - s : end - s]
        return self.fetch(start, end)

    def zip_ranges(self) -> None:
        """Fetch the tail and the central directory of the zip this file is: what
        ``zipfile`` reads to list its names."""
        size = self.size
        tail_len = min(size, TAIL_BYTES)
        tail = self.get(size - tail_len, size)
        if tail[-_EOCD_SIZE:][:4] != _EOCD and tail_len < min(size, MAX_TAIL_BYTES):
            # a zip comment: zipfile then reads the last 64 KiB + 22 bytes
            more = min(size, MAX_TAIL_BYTES)
            tail = self.get(size - more, size - tail_len) + tail
            tail_len = more
        pos = tail.rfind(_EOCD, 0, len(tail) - _EOCD_SIZE + 4)
        if pos < 0:
            raise Unreadable(f"{self.label}: no end of central directory record")
        tail_start = size - tail_len
        cd_size: int = struct.unpack_from("<L", tail, pos + 12)[0]
        cd_end = tail_start + pos
        loc = pos - _ZIP64_LOCATOR_SIZE
        if loc >= 0 and tail[loc : loc + 4] == _ZIP64_LOCATOR:
            # zip64: the directory ends where the zip64 end record starts
            rec = pos - _ZIP64_LOCATOR_SIZE - _ZIP64_EOCD_SIZE
            if rec < 0 or tail[rec : rec + 4] != _ZIP64_EOCD:
                raise Unreadable(f"{self.label}: zip64 end record not where expected")
            cd_size = struct.unpack_from("<Q", tail, rec + 40)[0]
            cd_end = tail_start + rec
        cd_start = cd_end - cd_size
        if cd_start < 0 or cd_size > MAX_CENTRAL_DIRECTORY:
            raise Unreadable(f"{self.label}: central directory out of bounds or too large")
        if cd_start < tail_start:
            self.get(cd_start, tail_start)


def probe_one(session: HubSession, ref: RepoRef, commit: str, entry: FileEntry) -> tuple[str, ...]:
    """The kinds of one LFS file by content; raises HubError/OSError when it cannot be read."""
    if entry.size == 0:
        return ()
    reader = _Reader(session, ref, commit, entry)
    head = reader.get(0, min(entry.size, HEAD_BYTES))
    if not head.startswith(_ZIP_HEADS):
        return classify(entry.path, lambda n: head[:n], size=entry.size)
    reader.zip_ranges()
    return classify(entry.path, None, size=entry.size, read_at=reader.read_at)


def probe_kinds(
    session: HubSession,
    ref: RepoRef,
    commit: str,
    entries: Sequence[FileEntry],
    *,
    max_parallel: int = MAX_PARALLEL_PROBES,
    on_fallback: Callable[[str, str], None] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Each LFS file's kinds by content (path -> kinds), read at ``commit``; a file whose
    content cannot be read gets its extension's kinds and ``on_fallback(path, reason)``."""

    def one(entry: FileEntry) -> tuple[str, ...]:
        try:
            return probe_one(session, ref, commit, entry)
        except (HubError, OSError) as exc:
            if on_fallback is not None:
                on_fallback(entry.path, str(exc))
            return by_extension(entry.path)

    if not entries:
        return {}
    workers = max(1, min(max_parallel, len(entries)))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="probe") as pool:
        kinds = list(pool.map(one, entries))
    return {e.path: k for e, k in zip(entries, kinds, strict=True)}
