"""Content ids and hashing: the validated hash types, what an etag promises, and every hasher.

The one answer to "what does this etag promise": :func:`etag_kind` (sha256 for 64 hex digits,
git blob sha1 for 40), :func:`hasher_for` / :class:`ContentHasher` (hash bytes as they stream),
:func:`file_digest` / :func:`verify_file` (a file on disk) and :class:`HashingReader` (a file
object that hashes what is read through it). Download, verify, repair, import and upload use
these; no other module spells a hex pattern or a ``blob <size>\\0`` header.

Every hash that comes from the network or a bundle (blobId, lfs sha256/oid, the resolve etag,
commit shas, manifest hashes) becomes a :class:`Sha256`, :class:`GitSha1` or :class:`CommitSha`
where it is parsed; those types can only hold lowercase hex of the right length, so a path, an
MD5 or ``../../x`` can never reach a file name or skip a hash check.

Large files are read by a helper thread into two rotating 1 MiB buffers while this thread
hashes the other one (both release the GIL), so reading and hashing overlap: 1 GiB from the page
cache hashes in ~0.53 s instead of ~0.65 s here, with 2 MiB of buffers per file.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
from collections.abc import Callable, Generator, Mapping
from io import BufferedReader
from pathlib import Path
from typing import IO, ClassVar, Literal, TypeAlias

from hubcli.errors import HubError, ProtocolError

CHUNK_SIZE = 1 << 20  # 1 MiB reads: flat memory, few syscalls
OVERLAP_MIN_SIZE = 8 * CHUNK_SIZE  # below this a reader thread costs more than it saves
EMPTY_BLOB_SHA1 = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class _Hex(str):
    """Lowercase hex of one fixed length; constructing one from anything else raises ValueError."""

    __slots__ = ()
    _pattern: ClassVar[re.Pattern[str]]
    kind: ClassVar[str]

    def __new__(cls, value: str) -> _Hex:
        if type(value) is not str and not isinstance(value, _Hex):
            raise ValueError(f"{cls.kind}: expected a string, got {type(value).__name__}")
        if not cls._pattern.fullmatch(value):
            raise ValueError(f"not a {cls.kind}: {value[:80]!r}")
        return super().__new__(cls, value)


class Sha256(_Hex):
    """A sha256 as 64 lowercase hex digits (the id of an LFS file)."""

    __slots__ = ()
    _pattern = re.compile(r"[0-9a-f]{64}")
    kind = "sha256"


class GitSha1(_Hex):
    """A git blob sha1 as 40 lowercase hex digits (the id of a regular file)."""

    __slots__ = ()
    _pattern = re.compile(r"[0-9a-f]{40}")
    kind = "git blob sha1"


class CommitSha(_Hex):
    """A git commit id: 40 lowercase hex digits."""

    __slots__ = ()
    _pattern = re.compile(r"[0-9a-f]{40}")
    kind = "commit sha"


ContentId: TypeAlias = "Sha256 | GitSha1"
"""What names a file's content in the cache: its etag (sha256 for LFS, git blob sha1 else)."""


def _parse(cls: type[_Hex], value: object, what: str, error: type[HubError]) -> _Hex:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value.strip().lower())
        except ValueError:
            pass
    shown = repr(value)[:80]
    raise error(f"{what}: the server sent an invalid {cls.kind} {shown}.")


def parse_sha256(value: object, *, what: str, error: type[HubError] = ProtocolError) -> Sha256:
    """``value`` as a :class:`Sha256` (any case accepted); ``error`` (ProtocolError) if not."""
    out = _parse(Sha256, value, what, error)
    assert isinstance(out, Sha256)
    return out


def parse_git_sha1(value: object, *, what: str, error: type[HubError] = ProtocolError) -> GitSha1:
    out = _parse(GitSha1, value, what, error)
    assert isinstance(out, GitSha1)
    return out


def parse_commit(value: object, *, what: str, error: type[HubError] = ProtocolError) -> CommitSha:
    out = _parse(CommitSha, value, what, error)
    assert isinstance(out, CommitSha)
    return out


def parse_etag(value: object, *, what: str, error: type[HubError] = ProtocolError) -> ContentId:
    """A content id: 64 hex digits are a sha256, 40 a git blob sha1; anything else ``error``."""
    if isinstance(value, Sha256 | GitSha1):
        return value
    if isinstance(value, str) and len(value.strip()) == 64:
        return parse_sha256(value, what=what, error=error)
    return parse_git_sha1(value, what=what, error=error)


def is_content_id(value: object) -> bool:
    """True when ``value`` is (or spells, in lowercase) a sha256 or git blob sha1."""
    return etag_kind(value) is not None


EtagKind: TypeAlias = Literal["sha256", "git-sha1"]


def etag_kind(value: object) -> EtagKind | None:
    """What an etag promises: ``sha256`` (64 lowercase hex), ``git-sha1`` (40), else None."""
    if isinstance(value, Sha256) or (
        isinstance(value, str) and Sha256._pattern.fullmatch(value) is not None
    ):
        return "sha256"
    if isinstance(value, GitSha1) or (
        isinstance(value, str) and GitSha1._pattern.fullmatch(value) is not None
    ):
        return "git-sha1"
    return None


def etag_from_headers(headers: Mapping[str, str]) -> ContentId | None:
    """The content id a Hub resolve answer names: ``X-Linked-Etag`` (LFS), else ``ETag``.

    Only read this from the Hub origin's own answer: a CDN's or object store's ETag (often an
    MD5) says nothing about the content id. Quotes and a weak ``W/`` prefix are dropped; a value
    that is not a sha256 or git sha1 gives None (the caller then takes the listing's hash).
    """
    raw = headers.get("X-Linked-Etag") or headers.get("ETag") or ""
    raw = raw.strip()
    if raw.startswith("W/"):
        raw = raw[2:]
    raw = raw.strip('"').lower()
    if not is_content_id(raw):
        return None
    return parse_etag(raw, what="etag")


def _git_header(size: int) -> bytes:
    return b"blob %d\0" % size


def hasher_for(etag: ContentId, size: int) -> hashlib._Hash:
    """A fresh hash object for what ``etag`` promises (sha256, or git blob sha1 of ``size``)."""
    if isinstance(etag, Sha256):
        return hashlib.sha256()
    if isinstance(etag, GitSha1):
        return hashlib.sha1(_git_header(size))
    raise TypeError(f"not a content id: {etag!r}")


class ContentHasher:
    """Hashes bytes as they stream in and says whether they are what ``etag`` promises.

    The etag is parsed (any case; anything but a sha256 or git sha1 raises ``error``, by default
    ProtocolError): nothing is ever placed unverified.
    """

    def __init__(
        self, etag: object, size: int, *, what: str = "etag", error: type[HubError] = ProtocolError
    ) -> None:
        self.etag: ContentId = parse_etag(etag, what=what, error=error)
        self.size = size
        self._h = hasher_for(self.etag, size)

    @property
    def algorithm(self) -> EtagKind:
        return "sha256" if isinstance(self.etag, Sha256) else "git-sha1"

    def reset(self) -> None:
        self._h = hasher_for(self.etag, self.size)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def matches(self) -> bool:
        return self._h.hexdigest() == self.etag


class HashingReader:
    """A read-only file object that hashes everything read through it (tar export, import)."""

    def __init__(self, fh: IO[bytes], hasher: ContentHasher) -> None:
        self.fh = fh
        self.hasher = hasher
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.hasher.update(data)
        self.count += len(data)
        return data


class Hasher:
    """Incremental sha256 and (optionally) git blob sha1 over the same bytes.

    The git blob sha1 hashes a ``blob <size>\\0`` header first, so it needs the total ``size``
    up front; pass ``size=None`` to compute sha256 only. ``update`` raises ValueError if more
    bytes than the announced size arrive, and ``git_sha1`` does if fewer did.
    """

    def __init__(self, *, size: int | None = None, sha1: bool = True, sha256: bool = True) -> None:
        self._sha256: hashlib._Hash | None = hashlib.sha256() if sha256 else None
        self._sha1: hashlib._Hash | None = None
        self.size = size
        self.count = 0
        if sha1 and size is not None:
            self._sha1 = hashlib.sha1(_git_header(size))

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._sha256 is not None:
            self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self.count += len(data)
        if self.size is not None and self.count > self.size:
            raise ValueError(f"got {self.count} bytes, more than the announced {self.size}")

    def sha256(self) -> str:
        if self._sha256 is None:
            raise ValueError("sha256 was not requested")
        return self._sha256.hexdigest()

    def git_sha1(self) -> str:
        if self._sha1 is None:
            raise ValueError("git sha1 was not requested (or the size was not known up front)")
        if self.count != self.size:
            raise ValueError(f"got {self.count} bytes, expected {self.size}")
        return self._sha1.hexdigest()


class HashCancelled(Exception):
    """Raised by :func:`hash_file` when its ``stop`` event is set mid-file."""


def _chunks_overlapped(f: BufferedReader, chunk_size: int) -> Generator[memoryview, None, None]:
    """Yield the file's contents in chunks read ahead by a helper thread (two buffers rotate:
    one being filled while the caller hashes the other). A read error is raised here."""
    full: queue.SimpleQueue[tuple[bytearray, int] | BaseException] = queue.SimpleQueue()
    free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    for _ in range(2):
        free.put(bytearray(chunk_size))

    def reader() -> None:
        try:
            while (buf := free.get()) is not None:
                n = f.readinto(buf)
                full.put((buf, n))
                if not n:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            full.put(exc)

    thread = threading.Thread(target=reader, name="hash-read", daemon=True)
    thread.start()
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            if not n:
                return
            yield memoryview(buf)[:n]
            free.put(buf)  # the caller is done with it: it comes back at the next step
    finally:
        free.put(None)  # the reader stops at its next turn (at most one more read)
        thread.join()


def _chunks(f: BufferedReader, chunk_size: int) -> Generator[memoryview, None, None]:
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    while n := f.readinto(buf):
        yield view[:n]


def hash_file(
    path: str | os.PathLike[str],
    *,
    sha1: bool = True,
    sha256: bool = True,
    chunk_size: int = CHUNK_SIZE,
    on_bytes: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[str | None, str | None]:
    """Return ``(sha256 or None, git blob sha1 or None)`` of a file in one streaming pass.

    ``on_bytes`` is told of every chunk hashed; a set ``stop`` event ends the pass early with
    HashCancelled. Raises OSError if the file cannot be read, ValueError if it changed size
    while being read.
    """
    p = Path(path)
    with p.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = Hasher(size=size, sha1=sha1, sha256=sha256)
        if size < chunk_size:  # small file: one read, no buffer to allocate
            h.update(f.read(size + 1))
            if on_bytes is not None:
                on_bytes(h.count)
        else:
            big = size >= max(OVERLAP_MIN_SIZE, 2 * chunk_size)
            chunks = _chunks_overlapped(f, chunk_size) if big else _chunks(f, chunk_size)
            try:
                for chunk in chunks:
                    if stop is not None and stop.is_set():
                        raise HashCancelled(str(p))
                    n = len(chunk)
                    h.update(chunk)
                    if on_bytes is not None:
                        on_bytes(n)
            finally:
                chunks.close()
    if h.count != size:
        raise ValueError(f"{p}: file changed size while being hashed")
    return (h.sha256() if sha256 else None), (h.git_sha1() if sha1 else None)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 hex of a file, streamed."""
    sha256 = hash_file(path, sha1=False)[0]
    assert sha256 is not None
    return sha256


def git_blob_sha1(path: str | os.PathLike[str]) -> str:
    """Git blob sha1 (``sha1("blob <size>\\0" + content)``) of a file, streamed."""
    sha1 = hash_file(path, sha1=True, sha256=False)[1]
    assert sha1 is not None
    return sha1


def git_blob_sha1_bytes(data: bytes) -> str:
    """Git blob sha1 of in-memory bytes."""
    h = hashlib.sha1(_git_header(len(data)))
    h.update(data)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """sha256 hex of in-memory bytes."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str], etag: str) -> str | None:
    """The file's digest in the flavour ``etag`` promises (sha256 or git blob sha1), streamed;
    None when ``etag`` is not a content id. Raises OSError if the file cannot be read,
    ValueError if it changed size while read."""
    kind = etag_kind(etag)
    if kind == "sha256":
        return hash_file(path, sha1=False)[0]
    if kind == "git-sha1":
        return hash_file(path, sha256=False)[1]
    return None


def verify_file(path: str | os.PathLike[str], etag: str, *, size: int | None = None) -> bool:
    """True when the file at ``path`` (of ``size`` bytes, if given) hashes to ``etag``.

    An unreadable file, one that changes while read, or an etag that names no hash: False."""
    try:
        if size is not None and os.path.getsize(path) != size:
            return False
        return file_digest(path, etag) == etag
    except (OSError, ValueError):
        return False
