"""LFS upload sessions kept in the object store, so that any replica serves any of their URLs
and a replica that dies mid-upload loses nothing (docs/storage.md, "Multipart uploads").

Layout under the store's prefix::

    uploads/sessions/<uid>.json        the session: {oid, size, chunk, user, created,
                                       upload_id (multipart), done}
    uploads/pending/<user>/<oid>.<size>.<chunk>
                                       the uid of the open multipart upload of that object by
                                       that user (a rerun of the client gets the same one)
    uploads/staging/<uid>              the multipart upload's key (never a blob key)

A multipart LFS upload is an S3 multipart upload on ``uploads/staging/<uid>``: its parts go
straight to the store, either from the client (``--presign``: the batch answer's part URLs are
presigned ``UploadPart`` URLs) or through whichever replica receives the part PUT (the replica
passes each part on as it arrives; nothing is assembled on its disk). The upload id and the
parts live in the store, so the completion can be sent to any replica.

Completion: ``CompleteMultipartUpload`` of the staging key (the store checks the part ETags),
then the replica reads the object back once, in order, hashing it: the parts' bytes may never
have passed through a replica (presigned), and when they did, they came through several
replicas, out of order and possibly twice, and a sha256 state cannot be saved in the store --
so re-reading is the one way that works for every case. Only when the size and sha256 match is
the object copied inside the store (``UploadPartCopy``, no bytes through the replica, no 5 GB
limit, only while the staging object's ETag is the one that was hashed) to
``blobs/sha256/<oid>`` with ``If-None-Match: *``; the staging object is then deleted. A
mismatch deletes it and nothing becomes visible.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from hubcli.server.ids import SHA256_RE, StorageError
from hubcli.server.store.s3client import NoSuchUpload, PreconditionFailed

if TYPE_CHECKING:
    from hubcli.server.store.s3 import S3Storage

SESSION_TTL = 24 * 3600  # an open upload is not handed out again a day after it was created
MIB = 1 << 20
MIN_PART = 5 * MIB
MAX_PARTS = 10_000
COPY_PIECE = 256 * MIB  # UploadPartCopy range (S3: up to 5 GiB)


def _safe(user: str | None) -> str:
    u = user or "-"
    return "".join(c if c.isalnum() or c in "._-" else f"%{ord(c):02x}" for c in u)


class S3Uploads:
    """The upload sessions of an ``S3Storage`` (thread-safe; state only in the store)."""

    def __init__(self, store: S3Storage) -> None:
        self.st = store
        self.s3 = store.s3
        self._cache: dict[str, dict[str, Any]] = {}  # uid -> open session (immutable fields)
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- sessions
    def chunk_size(self, size: int, wanted: int) -> int:
        """The part size handed to the client: ``wanted``, at least 5 MiB (S3's minimum for all
        parts but the last) and large enough for 10,000 parts."""
        return max(wanted, MIN_PART, -(-size // MAX_PARTS))

    def open(self, user: str | None, oid: str, size: int, chunk: int | None) -> str:
        """A session for one object; the open multipart upload of the same object by the same
        user is handed out again (same upload id: parts already sent stay)."""
        if not SHA256_RE.match(oid):
            raise StorageError(400, f"Invalid oid: {oid!r}")
        now = time.time()
        if chunk is None:  # basic: nothing to resume
            uid = secrets.token_urlsafe(18)
            doc = {"oid": oid, "size": size, "chunk": None, "user": user, "created": now}
            self.s3.put(f"uploads/sessions/{uid}.json", json.dumps(doc).encode(), create=True)
            return uid
        pending = f"uploads/pending/{_safe(user)}/{oid}.{size}.{chunk}"
        for _ in range(4):
            got = self.s3.get(pending)
            if got is not None:
                uid = got.data.decode("ascii", "replace")
                sess = self.session(uid, fresh=True)
                live = sess is not None and now - float(sess["created"]) < SESSION_TTL
                if live and sess is not None and not sess.get("done"):
                    return uid
                self.s3.delete(pending)  # stale (done, dropped or expired)
                continue
            uid = secrets.token_urlsafe(18)
            upload_id = self.s3.start_multipart(f"uploads/staging/{uid}")
            doc = {
                "oid": oid, "size": size, "chunk": chunk, "user": user, "created": now,
                "upload_id": upload_id,
            }  # fmt: skip
            self.s3.put(f"uploads/sessions/{uid}.json", json.dumps(doc).encode(), create=True)
            try:
                self.s3.put(pending, uid.encode(), create=True)
            except PreconditionFailed:  # another replica opened one meanwhile: use that one
                self.s3.abort_multipart(f"uploads/staging/{uid}", upload_id)
                self.s3.delete(f"uploads/sessions/{uid}.json")
                continue
            return uid
        raise StorageError(503, "Too many concurrent uploads of this object; try again")

    def session(self, uid: str, *, fresh: bool = False) -> dict[str, Any] | None:
        """The session ``uid`` (None when unknown); ``fresh``: re-read its ``done`` flag."""
        if not uid or len(uid) > 64 or not all(c.isalnum() or c in "_-" for c in uid):
            return None
        if not fresh:
            with self._lock:
                hit = self._cache.get(uid)
            if hit is not None:
                return hit
        got = self.s3.get(f"uploads/sessions/{uid}.json")
        if got is None:
            return None
        try:
            sess = json.loads(got.data)
        except ValueError:
            return None
        if not isinstance(sess, dict) or not SHA256_RE.match(str(sess.get("oid", ""))):
            return None
        if not sess.get("done"):
            with self._lock:
                self._cache[uid] = sess
                while len(self._cache) > 10_000:
                    self._cache.pop(next(iter(self._cache)))
        return sess

    @staticmethod
    def nparts(sess: dict[str, Any]) -> int:
        return max(1, -(-int(sess["size"]) // int(sess["chunk"])))

    @staticmethod
    def part_len(sess: dict[str, Any], n: int) -> int:
        size, chunk = int(sess["size"]), int(sess["chunk"])
        return min(chunk, size - chunk * (n - 1))

    def part_urls(self, uid: str) -> list[str] | None:
        """Presigned ``UploadPart`` URLs (``--presign``), else None (parts go via a replica)."""
        sess = self.session(uid)
        if not self.st.presign or sess is None or not sess.get("upload_id"):
            return None
        ttl = max(self.st.url_ttl, SESSION_TTL)
        name = f"uploads/staging/{uid}"
        return [
            self.s3.presign_part(name, sess["upload_id"], n, ttl)
            for n in range(1, self.nparts(sess) + 1)
        ]

    # ---------------------------------------------------------------- parts and completion
    def put_part(self, uid: str, n: int, data: bytes) -> str:
        """Pass part ``n`` (checked against its expected length) to the store; its ETag."""
        sess = self.session(uid)
        if sess is None or not sess.get("upload_id"):
            raise StorageError(404, "Unknown or expired upload URL")
        if not 1 <= n <= self.nparts(sess):
            raise StorageError(400, f"Invalid part number {n}")
        want = self.part_len(sess, n)
        if len(data) != want:
            raise StorageError(400, f"Part {n} has {len(data)} bytes, expected {want}")
        try:
            return self.s3.upload_part(f"uploads/staging/{uid}", sess["upload_id"], n, data)
        except Exception as e:  # the upload was completed or aborted meanwhile
            if "NoSuchUpload" in str(e):
                raise StorageError(409, "The upload was completed or aborted") from None
            raise

    def complete(self, uid: str, parts: dict[int, str]) -> None:
        """Complete the multipart upload, read it back hashing it, and publish it as
        ``blobs/sha256/<oid>`` only if size and sha256 match (``StorageError(400)`` else).
        Idempotent: completing a completed upload again succeeds."""
        sess = self.session(uid, fresh=True)
        if sess is None or not sess.get("upload_id"):
            raise StorageError(404, "Unknown or expired upload URL")
        oid, size = str(sess["oid"]), int(sess["size"])
        final = f"blobs/sha256/{oid}"
        if sess.get("done") and self.st.has_lfs(oid, size):
            return
        staging = f"uploads/staging/{uid}"
        try:
            etag = self.s3.complete_parts(staging, sess["upload_id"], list(parts.items()))
        except ValueError as e:
            raise StorageError(400, f"ETag mismatch: {e}") from None
        except NoSuchUpload:  # completed before (an answer lost, a replica died after it)
            etag = ""
        head = self.s3.head_etag(staging)
        if head is None:
            if self.st.has_lfs(oid, size):
                self._done(uid, sess)
                return
            raise StorageError(400, "The upload was aborted or expired; upload the object again")
        got_size, etag = head
        h = hashlib.sha256()
        n = 0
        if got_size == size:
            for piece in self.s3.get_range(staging, 0, size):
                h.update(piece)
                n += len(piece)
        if n != size or h.hexdigest() != oid:
            with contextlib.suppress(Exception):
                self.s3.delete(staging)
            self._done(uid, sess, ok=False)
            raise StorageError(
                400, f"Uploaded content does not match oid/size (got {n} of {size} bytes)"
            )
        with contextlib.suppress(PreconditionFailed):  # already stored: the same bytes
            self.s3.copy_new(staging, etag, final, size, max(COPY_PIECE, -(-size // MAX_PARTS)))
        self.st._known(final, size)
        with contextlib.suppress(Exception):
            self.s3.delete(staging)
        self._done(uid, sess)

    def _done(self, uid: str, sess: dict[str, Any], *, ok: bool = True) -> None:
        """Close the session: no longer handed out again; ``ok`` False drops it."""
        pending = f"uploads/pending/{_safe(sess.get('user'))}/{sess['oid']}.{sess['size']}"
        with contextlib.suppress(Exception):
            got = self.s3.get(f"{pending}.{sess['chunk']}")
            if got is not None and got.data.decode("ascii", "replace") == uid:
                self.s3.delete(f"{pending}.{sess['chunk']}")
        name = f"uploads/sessions/{uid}.json"
        if ok:
            self.s3.put(name, json.dumps({**sess, "done": True}).encode())
        else:
            self.s3.delete(name)
        with self._lock:
            self._cache.pop(uid, None)
