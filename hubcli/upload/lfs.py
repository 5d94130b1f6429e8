"""LFS object transfer: batch negotiation, basic PUT, parallel multipart with resumable part state.

Used by :mod:`hubcli.upload.engine`. Transfer hrefs may point to another origin (a CDN / object
store): they are requested as absolute URLs through :class:`~hubcli.http.HubSession`, which only
attaches the token to the Hub's own origin.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hubcli.cache.layout import atomic_write_text
from hubcli.client import HubClient
from hubcli.config import DEFAULT_ENDPOINT
from hubcli.errors import (
    AuthError,
    ConflictError,
    HTTPStatusError,
    HubError,
    IntegrityError,
    LocalFileError,
    NetworkError,
    NotFoundError,
    ServerError,
)
from hubcli.repo import RepoRef
from hubcli.transfer.ratelimit import paced

LFS_HEADERS = {
    "Accept": "application/vnd.git-lfs+json",
    "Content-Type": "application/vnd.git-lfs+json",
}
BATCH_SIZE = 256
_STAGING_ENDPOINT = "https://hub-ci.huggingface.co"


@dataclass
class LfsObject:
    """One LFS object to send: local file, its sha256 and size."""

    path: Path
    sha256: str
    size: int
    sent: bool = False  # set when bytes were actually transferred (not already on the server)


@dataclass
class _Multipart:
    obj: LfsObject
    href: str
    verify: dict[str, Any] | None
    chunk_size: int
    part_urls: list[str]
    etags: dict[int, str] = field(default_factory=dict)
    reused: set[int] = field(default_factory=set)  # parts taken from the saved state
    restarted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def urls_digest(self) -> str:
        return hashlib.sha256("\n".join(self.part_urls).encode()).hexdigest()


class _Aborted(Exception):
    """The upload was interrupted (Ctrl-C): a body being sent stops at its next block."""


class _FileSlice:
    """A read-only window ``[start, start+length)`` of a file, streamed as a request body."""

    def __init__(
        self,
        path: Path,
        start: int,
        length: int,
        on_read: Callable[[int], None],
        abort: threading.Event | None = None,
    ) -> None:
        self._f: IO[bytes] = path.open("rb")
        self._f.seek(start)
        self._left = length
        self._length = length
        self._on_read = on_read
        self._abort = abort

    def __len__(self) -> int:
        return self._length

    def read(self, n: int = -1) -> bytes:
        # urllib3 asks for small blocks; larger reads mean fewer syscalls and the same stream.
        if self._left <= 0 or n == 0:
            return b""
        if self._abort is not None and self._abort.is_set():
            raise _Aborted
        data = self._f.read(min(self._left, 1 << 20))
        self._left -= len(data)
        if data:
            self._on_read(len(data))
        return data

    def close(self) -> None:
        self._f.close()


def fix_endpoint(url: str, endpoint: str) -> str:
    """Rewrite ``https://huggingface.co`` (and staging) URLs to a custom endpoint, as hf does."""
    if endpoint in (DEFAULT_ENDPOINT, _STAGING_ENDPOINT):
        return url
    for default in (DEFAULT_ENDPOINT, _STAGING_ENDPOINT):
        if url.startswith(default):
            return endpoint + url[len(default) :]
    return url


class PartState:
    """Finished multipart parts on disk, so a rerun after a kill does not re-send them.

    One JSON file per object (named by sha256) holding the completion href, the chunk size, a
    digest of the part URLs and the ETag of every finished part. Parts are only reused when the
    server hands out the same upload again (same href, chunk size and part URLs): presigned URLs
    of a new upload differ, and then the upload restarts from the first part.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory

    def _file(self, sha256: str) -> Path | None:
        return self.directory / f"{sha256}.json" if self.directory else None

    def load(self, mp: _Multipart) -> dict[int, str]:
        """The saved ETags of ``mp``'s parts, or {} (and the stale state is forgotten)."""
        f = self._file(mp.obj.sha256)
        if f is None:
            return {}
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            data = None
        parts = data.get("parts") if isinstance(data, dict) and self._same(data, mp) else None
        if not isinstance(parts, dict):
            self.clear(mp.obj.sha256)
            return {}
        nparts = len(mp.part_urls)
        return {
            int(k): v
            for k, v in parts.items()
            if str(k).isdigit() and 1 <= int(k) <= nparts and isinstance(v, str) and v
        }

    @staticmethod
    def _same(data: dict[str, Any], mp: _Multipart) -> bool:
        saved = (data.get("href"), data.get("chunk_size"), data.get("urls"))
        return saved == (mp.href, mp.chunk_size, mp.urls_digest)

    def save(self, mp: _Multipart, etags: dict[int, str]) -> None:
        f = self._file(mp.obj.sha256)
        if f is None:
            return
        body = {
            "href": mp.href,
            "chunk_size": mp.chunk_size,
            "urls": mp.urls_digest,
            "parts": {str(k): v for k, v in etags.items()},
        }
        with contextlib.suppress(LocalFileError):  # resume state is an optimisation only
            atomic_write_text(f, json.dumps(body))

    def clear(self, sha256: str) -> None:
        f = self._file(sha256)
        if f is not None:
            with contextlib.suppress(OSError):
                f.unlink()


class LfsUploader:
    """Send LFS objects: batch, then basic or multipart transfers in one pool of workers.

    ``on_bytes`` is called (from worker threads) with the number of bytes sent. Raises HubError
    subclasses; an object the server rejects fails the whole upload.
    """

    def __init__(
        self,
        client: HubClient,
        ref: RepoRef,
        *,
        revision: str | None,
        workers: int = 8,
        state_dir: Path | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self.client = client
        self.session = client.session
        self.ref = ref
        self.revision = revision
        self.workers = max(1, workers)
        self.state = PartState(state_dir)
        self.on_bytes = on_bytes or (lambda n: None)
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._futures_lock = threading.Lock()
        self._abort = threading.Event()  # set on Ctrl-C: bodies being sent stop

    def upload(self, objects: list[LfsObject]) -> None:
        """Upload every object the server does not already have."""
        unique: dict[str, LfsObject] = {}
        for o in objects:
            unique.setdefault(o.sha256, o)
        todo = list(unique.values())
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lfs") as pool:
            self._pool, self._futures = pool, []
            try:
                for i in range(0, len(todo), BATCH_SIZE):
                    chunk = todo[i : i + BATCH_SIZE]
                    answer = self.client.lfs_batch(
                        self.ref,
                        objects=[{"oid": o.sha256, "size": o.size} for o in chunk],
                        revision=self.revision,
                    )
                    self._schedule(chunk, answer)
            except BaseException:
                self._cancel_pending()
                with contextlib.suppress(BaseException):
                    self._wait()  # this error wins over the transfers' errors
                raise
            self._wait()
        for o in objects:
            o.sent = unique[o.sha256].sent

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` in the pool; :meth:`_wait` also waits for work submitted by workers."""
        assert self._pool is not None
        with self._futures_lock:
            self._futures.append(self._pool.submit(fn, *args))

    def _cancel_pending(self) -> None:
        with self._futures_lock:
            for fut in self._futures:
                fut.cancel()

    def _wait(self) -> None:
        """Wait for every submitted transfer; raise the first error after cancelling the rest."""
        first: BaseException | None = None
        i = 0
        while True:
            with self._futures_lock:
                if i >= len(self._futures):
                    break
                fut = self._futures[i]
            i += 1
            try:
                fut.result()
            except BaseException as exc:  # keep the first error, cancel the rest
                if isinstance(exc, KeyboardInterrupt):
                    self._abort.set()  # running transfers end at their next block
                if first is None:
                    first = exc
                    self._cancel_pending()
        if first is not None:
            raise first

    def _schedule(self, chunk: list[LfsObject], answer: dict[str, Any]) -> None:
        by_oid = {o.sha256: o for o in chunk}
        items = answer.get("objects")
        if not isinstance(items, list):
            raise ServerError(f"{self.ref}: the LFS batch answer has no 'objects' list.")
        for item in items:
            oid = str(item.get("oid", ""))
            obj = by_oid.get(oid)
            if obj is None:
                continue
            err = item.get("error")
            if err:
                raise _batch_error(self.ref, oid, err)
            actions = item.get("actions") or {}
            upload = actions.get("upload")
            if not upload:
                continue  # the server already has it
            href = fix_endpoint(str(upload.get("href") or ""), self.session.endpoint)
            if not href:
                raise ServerError(f"{self.ref}: LFS batch gave no upload href for {oid}.")
            header = upload.get("header") or {}
            verify = actions.get("verify")
            if "chunk_size" in header:
                self._start_multipart(self._multipart(obj, href, header, verify))
            else:
                self._submit(self._put_basic, obj, href, verify)

    def _start_multipart(self, mp: _Multipart) -> None:
        """Resume from the saved part state when the server handed out the same upload (same
        href and part URLs), else start from the first part; send what is missing."""
        mp.etags = self.state.load(mp)
        mp.reused = set(mp.etags)
        for num in mp.reused:
            self.on_bytes(self._part_len(mp, num))
        if len(mp.etags) == len(mp.part_urls):
            self._submit(self._complete, mp)
        for num in range(1, len(mp.part_urls) + 1):
            if num not in mp.etags:
                self._submit(self._put_part, mp, num)

    def _multipart(
        self, obj: LfsObject, href: str, header: dict[str, Any], verify: dict[str, Any] | None
    ) -> _Multipart:
        try:
            chunk_size = int(header["chunk_size"])
        except (TypeError, ValueError) as exc:
            raise ServerError(
                f"{self.ref}: invalid multipart chunk_size for {obj.sha256}."
            ) from exc
        numbered = sorted((int(k), str(v)) for k, v in header.items() if str(k).isdigit())
        expected = math.ceil(obj.size / chunk_size) if chunk_size > 0 else -1
        if chunk_size <= 0 or len(numbered) != expected:
            raise ServerError(
                f"{self.ref}: multipart answer for {obj.sha256} has {len(numbered)} part URLs, "
                f"expected {expected}."
            )
        urls = [fix_endpoint(u, self.session.endpoint) for _, u in numbered]
        return _Multipart(obj, href, verify, chunk_size, urls)

    @staticmethod
    def _part_len(mp: _Multipart, num: int) -> int:
        start = (num - 1) * mp.chunk_size
        return max(0, min(mp.chunk_size, mp.obj.size - start))

    # -- transfers (worker threads) -------------------------------------------------------------
    def _send(self, method: str, url: str, path: Path, start: int, length: int) -> Any:
        """PUT a file window with our own retries (a body stream cannot be replayed blindly)."""
        attempt = 0
        while True:
            sent = 0

            def count(n: int) -> None:
                nonlocal sent
                sent += n
                self.on_bytes(n)

            try:
                body = _FileSlice(path, start, length, count, self._abort)
            except OSError as exc:
                raise LocalFileError(f"{path}: cannot read ({exc.strerror}).") from exc
            try:
                data = paced(body, self.session.settings.limit_rate, self._abort)  # --limit-rate
                return self.session.request(
                    method, url, data=data, retry=False, what=f"{self.ref} LFS upload"
                )
            except (NetworkError, ServerError, ConflictError) as exc:
                self.on_bytes(-sent)
                if attempt >= self.session.max_retries:
                    raise
                status = getattr(exc, "status", 0)
                # 409: another PUT of the same object or part is in progress (S3: OperationAborted)
                if status and status < 500 and status not in (408, 409, 429):
                    raise
                self.session.sleep(self.session.backoff_delay(attempt))
                attempt += 1
            except BaseException:
                self.on_bytes(-sent)
                raise
            finally:
                body.close()

    def _put_basic(self, obj: LfsObject, href: str, verify: dict[str, Any] | None) -> None:
        self._send("PUT", href, obj.path, 0, obj.size).close()
        obj.sent = True
        self._verify(obj, verify)

    def _put_part(self, mp: _Multipart, num: int) -> None:
        start = (num - 1) * mp.chunk_size
        resp = self._send("PUT", mp.part_urls[num - 1], mp.obj.path, start, self._part_len(mp, num))
        etag = resp.headers.get("ETag")
        resp.close()
        if not etag:
            raise ServerError(f"{self.ref}: part {num} of {mp.obj.sha256} came back without ETag.")
        with mp.lock:
            mp.etags[num] = etag
            mp.obj.sent = True
            self.state.save(mp, dict(mp.etags))
            last = len(mp.etags) == len(mp.part_urls)
        if last:
            self._complete(mp)

    def _complete(self, mp: _Multipart) -> None:
        with mp.lock:
            parts = [{"partNumber": n, "etag": mp.etags[n]} for n in sorted(mp.etags)]
        try:
            self.session.request(
                "POST",
                mp.href,
                data=json.dumps({"oid": mp.obj.sha256, "parts": parts}),
                headers=LFS_HEADERS,
                retry=True,
                what=f"{self.ref} LFS multipart completion",
            ).close()
        except HTTPStatusError:
            if self._send_reused_again(mp):
                return  # the last of those parts completes the upload again
            raise
        self.state.clear(mp.obj.sha256)
        mp.obj.sent = True
        self._verify(mp.obj, mp.verify)

    def _send_reused_again(self, mp: _Multipart) -> bool:
        """The server refused a completion listing parts saved by an earlier run (it lost or
        replaced them): forget the saved state and send those parts again, once."""
        with mp.lock:
            if mp.restarted or not mp.reused:
                return False
            mp.restarted = True
            redo = sorted(mp.reused)
            mp.reused.clear()
            for num in redo:
                mp.etags.pop(num, None)
            self.state.save(mp, dict(mp.etags))
        for num in redo:
            self.on_bytes(-self._part_len(mp, num))
            self._submit(self._put_part, mp, num)
        return True

    def _verify(self, obj: LfsObject, verify: dict[str, Any] | None) -> None:
        if not verify or not verify.get("href"):
            return
        href = fix_endpoint(str(verify["href"]), self.session.endpoint)
        try:
            self.session.request(
                "POST",
                href,
                json={"oid": obj.sha256, "size": obj.size},
                retry=True,
                what=f"{self.ref} LFS verify",
            ).close()
        except HTTPStatusError as exc:
            raise IntegrityError(
                f"{obj.path}: the server could not verify the uploaded object ({exc.message})."
            ) from exc


def _batch_error(ref: RepoRef, oid: str, err: Any) -> HubError:
    code = int(err.get("code") or 0) if isinstance(err, dict) else 0
    msg = str(err.get("message") or err) if isinstance(err, dict) else str(err)
    text = f"{ref}: the server refused LFS object {oid[:12]}… ({code}: {msg})."
    if code in (401, 403):
        return AuthError(text)
    if code == 404:
        return NotFoundError(text)
    if code >= 500:
        return ServerError(text, status=code)
    return HTTPStatusError(text, status=code)
