"""Open LFS upload sessions and multipart assembly, kept on disk so they survive a restart.

Multipart parts are written straight into one file at their offsets, and the object's sha256 is
advanced over the contiguous prefix of finished parts as they arrive, so completion only has to
hash what is left (usually nothing) and rename: like S3, it does not copy the object again. As on
S3, a part PUT again replaces the earlier one (the newest writer wins, an older connection still
sending it is cut off), and open uploads live on disk under ``<root>/uploads/``: they survive a
restart of the server with the same URLs and finished parts, until they expire.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from hubcli.server.ids import SHA256_RE
from hubcli.server.response import ApiError
from hubcli.server.state import HubState

SESSION_TTL = 24 * 3600  # an open upload is dropped a day after its last activity
_UPLOADS = "uploads"  # <root>/uploads/<uid>/{session.json,parts.log,data}: open multipart uploads
_META = "session.json"
_JOURNAL = "parts.log"
_JOURNAL_LINE = re.compile(r'([0-9]{1,6}) ("[0-9a-f]{1,64}"|-)\n')
_UID_RE = re.compile(r"[A-Za-z0-9_-]{24}")
_STRIPES = 64  # locks striped over part numbers: a write and a new writer of a part exclude


class Superseded(ApiError):
    """409: a newer PUT of the same part replaced this one."""

    def __init__(self, n: int) -> None:
        super().__init__(409, f"Part {n} was replaced by a newer upload of the same part")


class Assembly:
    """One multipart object being assembled in place in ``<dir>/data``: part ETags, sha256.

    Every PUT of a part gets a new generation and only the newest writer of a part may write or
    finish it: a PUT that sends a part again (a rerun after the client was killed) replaces it at
    once, and an older connection still trickling in the same part is refused at its next write.
    Finished parts are appended to ``<dir>/parts.log`` (``<n> <etag>``; ``<n> -`` when a part is
    sent again), which is replayed when the server starts again.

    ``hashed`` counts the parts (from 1, contiguous) already fed to the hasher. A part that is
    uploaded again after it was hashed resets the hasher (its bytes may differ).
    """

    def __init__(self, directory: Path, size: int, chunk: int) -> None:
        self.dir = directory
        self.path = directory / "data"
        self.size = size
        self.chunk = chunk
        self.nparts = math.ceil(size / chunk)
        self.lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self.gen: dict[int, int] = {}
        self.sealed = False
        self.closed = False  # the server stopped: no request of this run writes any more
        self.hasher = hashlib.sha256()
        self.hashed = 0
        with open(self.path, "ab"):
            pass  # the file exists from the start; parts are written at their offsets
        self.etags = self._replay()

    def part_len(self, n: int) -> int:
        return self.chunk if n < self.nparts else self.size - self.chunk * (self.nparts - 1)

    def _replay(self) -> dict[int, str]:
        try:
            text = (self.dir / _JOURNAL).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return {}
        etags: dict[int, str] = {}
        for line in text.splitlines(keepends=True):
            m = _JOURNAL_LINE.fullmatch(line)  # a torn last line is ignored
            if m is None or not 1 <= int(m[1]) <= self.nparts:
                continue
            if m[2] == "-":
                etags.pop(int(m[1]), None)
            else:
                etags[int(m[1])] = m[2]
        return etags

    def _journal(self, n: int, etag: str | None) -> None:
        fd = os.open(self.dir / _JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{n} {etag or '-'}\n".encode())  # one small append: whole or absent
        finally:
            os.close(fd)

    def begin(self, n: int) -> int:
        """Start a new writer of part ``n``; older writers of it can no longer write."""
        with self._stripes[n % _STRIPES], self.lock:
            if self.sealed:
                raise ApiError(409, "The upload is being completed")
            gen = self.gen.get(n, 0) + 1
            self.gen[n] = gen
            if self.etags.pop(n, None) is not None:
                self._journal(n, None)
            if n <= self.hashed:
                self.hasher, self.hashed = hashlib.sha256(), 0
            return gen

    def write(self, fd: int, n: int, gen: int, offset: int, buf: bytes) -> None:
        with self._stripes[n % _STRIPES]:
            if self.closed:
                raise ApiError(503, "The server is stopping")
            if self.gen.get(n) != gen:
                raise Superseded(n)
            view = memoryview(buf)
            while view:
                done = os.pwrite(fd, view, offset)
                view, offset = view[done:], offset + done

    def end(self, n: int, gen: int, etag: str | None) -> bool:
        """Finish a writer (``etag`` None: it failed); False if a newer writer replaced it."""
        with self.lock:
            if self.gen.get(n) != gen:
                return False
            if etag is not None:
                self.etags[n] = etag
                self._journal(n, etag)
                self._advance()
            return True

    def _advance(self) -> None:
        with open(self.path, "rb") as f:
            while self.hashed < self.nparts and (self.hashed + 1) in self.etags:
                f.seek(self.hashed * self.chunk)
                left = self.part_len(self.hashed + 1)
                while left > 0:
                    buf = f.read(min(left, 1 << 20))
                    if not buf:
                        raise ApiError(500, "Part data went missing")
                    self.hasher.update(buf)
                    left -= len(buf)
                self.hashed += 1

    def seal(self, etags: dict[int, str]) -> str | None:
        """Freeze the parts for completion once ``etags`` match the finished parts; return the
        object's sha256 (hashing what is left), None if a part's data went missing."""
        with self.lock:
            for n in range(1, self.nparts + 1):
                have = self.etags.get(n)
                if have is None:
                    raise ApiError(400, f"Part {n} was not uploaded")
                if etags.get(n) != have:
                    raise ApiError(400, f"ETag mismatch for part {n}")
            self.sealed = True
            try:
                self._advance()
            except ApiError:
                return None
            return self.hasher.hexdigest() if self.hashed == self.nparts else None

    def unseal(self) -> None:
        with self.lock:
            self.sealed = False

    def close(self) -> None:
        """Refuse every later write; wait for writes in progress (the data stays on disk)."""
        self.closed = True
        for stripe in self._stripes:
            with stripe:
                pass


def new_session(state: HubState, user: str | None, oid: str, size: int, chunk: int | None) -> str:
    """A session URL for one object; a pending multipart upload of the same object by the same
    user is handed out again (same href and part URLs), so a rerun can resume it."""
    now = time.time()
    with state.uploads_lock:
        for k in [k for k, v in state.uploads.items() if now - _touched(v) > SESSION_TTL]:
            drop_session(state, k)
        if chunk is not None:
            for k, v in state.uploads.items():
                same = (v["oid"], v["size"], v["chunk"], v.get("user")) == (oid, size, chunk, user)
                if same and not v.get("done"):
                    v["touched"] = now
                    return k
        uid = secrets.token_urlsafe(18)
        sess: dict[str, Any] = {
            "oid": oid, "size": size, "chunk": chunk, "user": user, "created": now, "touched": now
        }  # fmt: skip
        if chunk is not None:
            d = _session_dir(state, uid)
            d.mkdir(parents=True, exist_ok=True)
            sess["asm"] = Assembly(d, size, chunk)
            _save_meta(d, sess)
        state.uploads[uid] = sess
    return uid


def _touched(sess: dict[str, Any]) -> float:
    return float(sess.get("touched") or sess["created"])


def drop_session(state: HubState, uid: str) -> None:
    state.uploads.pop(uid, None)
    shutil.rmtree(_session_dir(state, uid), ignore_errors=True)


def _session_dir(state: HubState, uid: str) -> Path:
    return state.storage.root / _UPLOADS / uid


def _save_meta(d: Path, sess: dict[str, Any]) -> None:
    """Write ``session.json`` atomically (a session without it is not reloaded)."""
    meta = {k: sess[k] for k in ("oid", "size", "chunk", "user", "created")}
    tmp = d / f"{_META}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(tmp, d / _META)


def _load_meta(d: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((d / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (
        _UID_RE.fullmatch(d.name) is not None
        and isinstance(meta, dict)
        and SHA256_RE.match(str(meta.get("oid", ""))) is not None
        and all(type(meta.get(k)) is int and meta[k] > 0 for k in ("size", "chunk"))
        and isinstance(meta.get("created"), (int, float))
        and isinstance(meta.get("user"), (str, type(None)))
    )
    return meta if ok else None


def _last_activity(d: Path, created: float) -> float:
    times = [created]
    for name in (_JOURNAL, "data"):
        with contextlib.suppress(OSError):
            times.append((d / name).stat().st_mtime)
    return max(times)


def load_sessions(state: HubState) -> None:
    """Reopen the multipart uploads an earlier run of the server left open under its root (their
    parts, ETags and URLs stay valid); drop expired, broken or already completed ones."""
    base = state.storage.root / _UPLOADS
    base.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for d in base.iterdir():
        meta = _load_meta(d) if d.is_dir() else None
        stale = meta is None or state.storage.has_lfs(meta["oid"], meta["size"])
        if meta is None or stale or now - _last_activity(d, meta["created"]) > SESSION_TTL:
            shutil.rmtree(d, ignore_errors=True)
            with contextlib.suppress(OSError):
                d.unlink()
            continue
        meta["touched"] = _last_activity(d, meta["created"])
        meta["asm"] = Assembly(d, meta["size"], meta["chunk"])
        with state.uploads_lock:
            state.uploads[d.name] = meta


def close_sessions(state: HubState) -> None:
    """On stop: requests still reading a part body write nothing more (a server started again
    on the same root owns the open uploads)."""
    with state.uploads_lock:
        assemblies = [s["asm"] for s in state.uploads.values() if "asm" in s]
    for asm in assemblies:
        asm.close()


def get_session(state: HubState, uid: str) -> dict[str, Any]:
    """The open (or completed) session ``uid``; 404 when unknown or expired."""
    with state.uploads_lock:
        sess = state.uploads.get(uid)
    if sess is None:
        raise ApiError(404, "Unknown or expired upload URL")
    return sess
