"""Sequential fetch: one stream into a partial file, resumed from the bytes already on disk.

A partial from an earlier run is hashed first and resumed with ``Range: bytes=<have>-``; a
connection dropped mid-body resumes from the last byte received; a server that ignores Range
(a 200) restarts the partial from zero.
"""

from __future__ import annotations

import os

import requests

from hubcli.errors import ProtocolError
from hubcli.hashing import ContentHasher
from hubcli.liveness import Watch, watching
from hubcli.transfer.job import READ_SIZE, FetchJob, FetchResult
from hubcli.transfer.partial import open_partial, verify_or_discard
from hubcli.transfer.stream import Streams, check_body_size, content_range_start


def fetch_sequential(
    streams: Streams,
    job: FetchJob,
    result: FetchResult,
    *,
    first: requests.Response | None = None,
) -> None:
    """Fetch ``job`` as one stream (``first``: an answer already open) and verify it."""
    hasher = ContentHasher(job.etag, job.size)
    fd = open_partial(job.tmp, os.O_RDWR | os.O_CREAT)
    try:
        have = os.fstat(fd).st_size
        if have > job.size:
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
            streams.progress.advance(job.key, have)
        with watching(streams.file_watch()) as watch:
            _attempts(streams, job, fd, have, hasher, result, first, watch)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    verify_or_discard(job.tmp, hasher, job.size, job.label)


def _attempts(
    streams: Streams,
    job: FetchJob,
    fd: int,
    offset: int,
    hasher: ContentHasher,
    result: FetchResult,
    resp: requests.Response | None,
    watch: Watch,
) -> None:
    best = offset
    failures = 0
    while offset < job.size:
        if resp is None:
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            resp = streams.open(job.target, headers=headers, what=job.label)
        try:
            offset = _accept_start(streams, job, resp, fd, offset, hasher, result)
            got, drop = streams.stream_into(
                resp,
                fd,
                offset=offset,
                limit=job.size - offset,
                path=job.tmp,
                hasher=hasher,
                key=job.key,
            )
        finally:
            resp.close()
            resp = None
        offset += got
        result.fetched_bytes += got
        if offset >= job.size:
            return
        failures = 0 if streams.progressed(watch, offset, best) else failures + 1
        best = max(best, offset)
        streams.retry_or_raise(failures, job.label, drop, watch)


def _accept_start(
    streams: Streams,
    job: FetchJob,
    resp: requests.Response,
    fd: int,
    offset: int,
    hasher: ContentHasher,
    result: FetchResult,
) -> int:
    """Where this answer's body starts: ``offset`` for a matching 206, 0 for a 200 (the server
    ignored Range: the partial is reset). A 206 elsewhere, or headers that contradict the
    listing's size, are a ProtocolError."""
    check_body_size(resp, job.size, job.label)
    if resp.status_code == 200 and offset:
        os.ftruncate(fd, 0)
        hasher.reset()
        streams.progress.advance(job.key, -offset)
        result.reused_bytes = 0
        return 0
    if resp.status_code == 206:
        start = content_range_start(resp.headers.get("Content-Range"))
        if start != offset:
            raise ProtocolError(
                f"{job.label}: asked for bytes from {offset}, the server sent "
                f"{resp.headers.get('Content-Range')!r}."
            )
    return offset
