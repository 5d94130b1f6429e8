"""Blob fills: one upstream fetch per missing blob, however many clients ask for it at once.

A fill runs in its own thread (a client that goes away does not stop it). It writes the body into a
temp file of the store while hashing it (sha256 for LFS, git blob sha1 for regular files), resumes
with a ``Range`` request on the same or the next upstream when a connection breaks, and publishes
the blob (``os.replace`` into ``objects/``, or the object store's verified write: ``storage``) only
once the size and the hash match. Clients read the
growing temp file as it fills; the last byte of the blob is released only after the hash matched,
so no client ever receives a complete body that failed verification (the connection is cut).
A wrong size, a wrong hash or a lying ``Content-Range`` fails the fill: nothing is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from hubcli.server.blobs import BlobStore
from hubcli.server.mirror.metrics import Metrics
from hubcli.server.mirror.storage import FileMirrorStorage, MirrorStorage
from hubcli.server.mirror.upstream import ProtocolError, UpstreamClient
from hubcli.server.records import Entry

PIECE = 1 << 20
ATTEMPTS_PER_UPSTREAM = 3
_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+)$")


class FillFailed(Exception):
    def __init__(self, message: str, *, protocol: bool) -> None:
        super().__init__(message)
        self.protocol = protocol


@dataclass(frozen=True)
class Source:
    """Where a blob can be fetched: the resolve URL of a file of a pinned commit (upstream path)."""

    target: str  # "/{prefix}{ns}/{name}/resolve/{sha}/{quoted path}"
    token: str | None = field(default=None, repr=False)  # a client's own (--forward-token)


class Hasher:
    """sha256 of the bytes (LFS) or their git blob sha1 (regular files)."""

    def __init__(self, entry: Entry) -> None:
        self.lfs = entry.sha256 is not None
        self.want = entry.sha256 if entry.sha256 else entry.oid
        self.h = hashlib.sha256() if self.lfs else hashlib.sha1(b"blob %d\0" % entry.size)

    def update(self, data: bytes | memoryview) -> None:
        self.h.update(data)

    def ok(self) -> bool:
        return self.h.hexdigest() == self.want


class Fill:
    """One blob being fetched; readers follow ``progress``."""

    def __init__(
        self, store: BlobStore, entry: Entry, source: Source, place: MirrorStorage
    ) -> None:
        self.entry = entry
        self.size = entry.size
        self.source = source
        self.store = store
        self.place = place
        self.dest: str | None = None  # the published blob's local file (None: in the store)
        fd, self.tmp = store.new_temp()
        os.close(fd)
        self.cond = threading.Condition()
        self.progress = 0
        self.state = "starting"  # -> "running" -> "done" | "failed"
        self.error: FillFailed | None = None
        self.restarted = 0  # bumped when bytes already written were thrown away

    # ------------------------------------------------------------------ readers
    def wait_started(self, timeout: float) -> None:
        """Return once the first upstream accepted (raise ``FillFailed`` if the fill failed)."""
        with self.cond:
            self.cond.wait_for(lambda: self.state != "starting", timeout)
            if self.state == "failed":
                assert self.error is not None
                raise self.error

    def wait_done(self, timeout: float) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.state in ("done", "failed"), timeout)
            if self.state == "failed":
                assert self.error is not None
                raise self.error
            if self.state != "done":
                raise FillFailed("the upstream fill is too slow", protocol=False)

    def read(self, start: int, count: int, idle: float) -> Iterator[bytes]:
        """``count`` bytes from ``start``, as the fill writes them; the blob's last byte only once
        it is verified. Raises ``FillFailed`` (the connection is then cut)."""
        with self.cond:
            if self.state == "done" and self.dest is None:  # published into the object store
                fd = -1
            else:
                path = self.dest if self.state == "done" and self.dest else self.tmp
                fd = os.open(path, os.O_RDONLY)  # still the same file after the rename
            gen = self.restarted
        if fd < 0:
            yield from self.store.open_blob(self.entry, start, count)
            return
        try:
            pos, end = start, start + count
            while pos < end:
                with self.cond:
                    deadline = time.monotonic() + idle
                    while True:
                        if self.state == "failed" or self.restarted != gen:
                            raise self.error or FillFailed("fill restarted", protocol=False)
                        ready = self.progress if self.state != "done" else self.size
                        if self.state != "done":
                            ready = min(ready, self.size - 1)
                        if ready > pos:
                            break
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise FillFailed("the upstream fill stalled", protocol=False)
                        self.cond.wait(left)
                n = min(PIECE, min(end, ready) - pos)
                data = os.pread(fd, n, pos)
                if not data:
                    raise FillFailed("fill file shrank", protocol=False)
                pos += len(data)
                yield data
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ the fill thread
    def _set(self, **kw: Any) -> None:
        with self.cond:
            for k, v in kw.items():
                setattr(self, k, v)
            self.cond.notify_all()

    def run(self, client: UpstreamClient, metrics: Metrics) -> None:
        hasher = Hasher(self.entry)
        protocol = False
        last = "no upstream"
        try:
            with open(self.tmp, "r+b", buffering=0) as out:
                for up in client.order():
                    for _ in range(ATTEMPTS_PER_UPSTREAM):
                        if self.progress >= self.size:
                            break
                        try:
                            self._fetch(client, up, out, hasher, metrics)
                            client.mark_up(up)
                        except ProtocolError as e:
                            protocol, last = True, f"{up.url}: {e}"
                            client.mark_down(up, last)
                            raise FillFailed(last, protocol=True) from None
                        except (requests.RequestException, OSError, _Short) as e:
                            last = f"{up.url}: {type(e).__name__}"
                            client.mark_down(up, last)
                            if isinstance(e, requests.ConnectionError) and self.progress == 0:
                                break  # refused: next upstream at once
                    if self.progress >= self.size:
                        break
                if self.progress < self.size:
                    raise FillFailed(f"no upstream delivered the blob ({last})", protocol=protocol)
                if not hasher.ok():
                    metrics.inc("verify_failures_total")
                    raise FillFailed("the upstream's bytes do not match their hash", protocol=True)
                os.fsync(out.fileno())
            try:
                self.place.publish(self.entry, self.tmp)  # readers still follow the spool
            except Exception as e:
                raise FillFailed(f"the store refused the blob: {e!r}", protocol=False) from None
            with self.cond:
                self.dest = self.place.settle(self.entry, self.tmp)
                self.state = "done"
                self.cond.notify_all()
        except FillFailed as e:
            metrics.inc("fills_failed_total")
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self._set(state="failed", error=e)
        except Exception as e:  # pragma: no cover - bug safety net
            metrics.inc("fills_failed_total")
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self._set(state="failed", error=FillFailed(f"fill error: {e!r}", protocol=False))

    def _fetch(self, client: UpstreamClient, up: Any, out: Any, hasher: Hasher, m: Metrics) -> None:
        """One upstream request: the rest of the body from ``progress`` (206) or all of it (200,
        the first ``progress`` bytes skipped)."""
        offset = self.progress
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = client.request(
            up, "GET", self.source.target, headers=headers, stream=True, as_token=self.source.token
        )
        with contextlib.closing(resp):
            status = resp.status_code
            if status >= 500 or status == 429:
                raise _Short(f"status {status}")
            skip = 0
            if status == 206:
                m_ = _RANGE_RE.match(resp.headers.get("Content-Range", ""))
                if (
                    not m_
                    or int(m_.group(1)) != offset
                    or int(m_.group(2)) != self.size - 1
                    or int(m_.group(3)) != self.size
                ):
                    raise ProtocolError("Content-Range does not match the blob")
            elif status == 200:
                skip = offset
            else:
                raise ProtocolError(f"answered {status} for a file its tree lists")
            length = resp.headers.get("Content-Length")
            expect = self.size - offset if status == 206 else self.size
            if length is not None and (not length.isdigit() or int(length) != expect):
                raise ProtocolError("Content-Length differs from the listed size")
            if self.state == "starting":
                self._set(state="running")
            for piece in resp.iter_content(PIECE):
                m.inc("upstream_bytes_fetched_total", len(piece))
                if skip:
                    cut = min(skip, len(piece))
                    piece, skip = piece[cut:], skip - cut
                    if not piece:
                        continue
                if self.progress + len(piece) > self.size:
                    raise ProtocolError("body longer than the listed size")
                view = memoryview(piece)
                while view:
                    view = view[out.write(view) :]
                hasher.update(piece)
                with self.cond:
                    self.progress += len(piece)
                    self.cond.notify_all()
            if self.progress < self.size:
                raise _Short("body ended early")


class _Short(Exception):
    pass


class DirectRange:
    """A ``Range`` of a blob whose fill has not reached it yet, answered by its own upstream
    ``Range`` request (resumed from where it broke, up to ``ATTEMPTS_PER_UPSTREAM`` times per
    upstream). The bytes are passed through, not stored: the fill stores the verified blob."""

    def __init__(
        self, client: UpstreamClient, source: Source, size: int, start: int, end: int
    ) -> None:
        self.client = client
        self.source = source
        self.size = size
        self.pos = start
        self.end = end  # inclusive
        self.resp: requests.Response | None = None

    def _open(self, up: Any) -> bool:
        """One ranged request from ``pos``: True when ``up`` answered the exact 206."""
        resp = self.client.request(
            up,
            "GET",
            self.source.target,
            headers={"Range": f"bytes={self.pos}-{self.end}"},
            stream=True,
            as_token=self.source.token,
        )
        m_ = _RANGE_RE.match(resp.headers.get("Content-Range", ""))
        if (
            resp.status_code != 206
            or not m_
            or (int(m_.group(1)), int(m_.group(2)), int(m_.group(3)))
            != (self.pos, self.end, self.size)
        ):
            resp.close()
            return False
        self.resp = resp
        return True

    def open(self) -> bool:
        """Find an upstream that answers the range; False when none does (then the caller
        reads from the fill)."""
        for up in self.client.order():
            with contextlib.suppress(requests.RequestException, OSError, ProtocolError):
                if self._open(up):
                    return True
        return False

    def __iter__(self) -> Iterator[bytes]:
        tries = ATTEMPTS_PER_UPSTREAM * max(1, len(self.client.upstreams))
        while True:
            resp = self.resp
            if resp is None:
                if tries <= 0 or not self.open():
                    raise FillFailed("no upstream finished the range", protocol=False)
                tries -= 1
                continue
            try:
                with contextlib.closing(resp):
                    for piece in resp.iter_content(PIECE):
                        piece = piece[: self.end + 1 - self.pos]
                        if piece:
                            self.pos += len(piece)
                            yield piece
                        if self.pos > self.end:
                            return
            except (requests.RequestException, OSError):
                pass
            if self.pos > self.end:
                return
            self.resp = None  # broke early: ask again from pos


class Fills:
    """The fills in progress, one per blob."""

    def __init__(
        self,
        store: BlobStore,
        client: UpstreamClient,
        metrics: Metrics,
        on_stored: Callable[[str, int], None] | None = None,
        place: MirrorStorage | None = None,
    ) -> None:
        self.store = store
        self.place = place if place is not None else FileMirrorStorage(store)  # type: ignore[arg-type]
        self.client = client
        self.metrics = metrics
        self.on_stored = on_stored  # (blob path, size) after a fill published a blob
        self._lock = threading.Lock()
        self._fills: dict[str, Fill] = {}

    def get(self, entry: Entry, source: Source) -> Fill | None:
        """The fill of ``entry`` (joined or started); None when the blob is already stored."""
        key = entry.sha256 or entry.oid
        with self._lock:
            fill = self._fills.get(key)
            if fill is not None:
                return fill
            if self.store.blob_size(entry) == entry.size:
                return None
            fill = Fill(self.store, entry, source, self.place)
            self._fills[key] = fill
            self.metrics.inc("fills_total")
            self.metrics.set("fills_in_progress", len(self._fills))
        threading.Thread(
            target=self._run, args=(key, fill), name="hubcli-mirror-fill", daemon=True
        ).start()
        return fill

    def _run(self, key: str, fill: Fill) -> None:
        try:
            fill.run(self.client, self.metrics)
        finally:
            with self._lock:
                self._fills.pop(key, None)
                self.metrics.set("fills_in_progress", len(self._fills))
        if fill.state == "done" and fill.dest is not None and self.on_stored is not None:
            self.on_stored(fill.dest, fill.size)

    def in_progress(self) -> int:
        with self._lock:
            return len(self._fills)
