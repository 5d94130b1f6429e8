"""Git LFS batch API with basic and multipart upload transfers, completion and verify.

Upload actions point at unguessable per-object session URLs (``/_lfs/...``): like S3 presigned
URLs, they need no Authorization header, which huggingface_hub does not send there. Every upload is
checked against the announced sha256 and size before it enters the blob store.

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
from typing import TYPE_CHECKING, Any

from hubcli.server.handler import HubError, Request, Response
from hubcli.server.routes import cdn_href, check_gated, get_repo
from hubcli.server.storage import SHA256_RE
from hubcli.server.write_routes import require_owner, require_user

if TYPE_CHECKING:
    from hubcli.server.app import HubState

LFS_CTYPE = "application/vnd.git-lfs+json"
SESSION_TTL = 24 * 3600  # an open upload is dropped a day after its last activity
_UPLOADS = "uploads"  # <root>/uploads/<uid>/{session.json,parts.log,data}: open multipart uploads
_META = "session.json"
_JOURNAL = "parts.log"
_JOURNAL_LINE = re.compile(r'([0-9]{1,6}) ("[0-9a-f]{1,64}"|-)\n')
_UID_RE = re.compile(r"[A-Za-z0-9_-]{24}")
_STRIPES = 64  # locks striped over part numbers: a write and a new writer of a part exclude


def _lfs_json(obj: Any, status: int = 200) -> Response:
    resp = Response.json(obj, status)
    resp.headers["Content-Type"] = LFS_CTYPE
    return resp


class _Superseded(HubError):
    def __init__(self, n: int) -> None:
        super().__init__(409, f"Part {n} was replaced by a newer upload of the same part")


class _Assembly:
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
                raise HubError(409, "The upload is being completed")
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
                raise HubError(503, "The server is stopping")
            if self.gen.get(n) != gen:
                raise _Superseded(n)
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
                        raise HubError(500, "Part data went missing")
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
                    raise HubError(400, f"Part {n} was not uploaded")
                if etags.get(n) != have:
                    raise HubError(400, f"ETag mismatch for part {n}")
            self.sealed = True
            try:
                self._advance()
            except HubError:
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


def _new_session(req: Request, oid: str, size: int, chunk: int | None) -> str:
    """A session URL for one object; a pending multipart upload of the same object by the same
    user is handed out again (same href and part URLs), so a rerun can resume it."""
    now = time.time()
    user = req.user
    state = req.state
    with state.uploads_lock:
        for k in [k for k, v in state.uploads.items() if now - _touched(v) > SESSION_TTL]:
            _drop_session(state, k)
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
            sess["asm"] = _Assembly(d, size, chunk)
            _save_meta(d, sess)
        state.uploads[uid] = sess
    return uid


def _touched(sess: dict[str, Any]) -> float:
    return float(sess.get("touched") or sess["created"])


def _drop_session(state: HubState, uid: str) -> None:
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
        meta["asm"] = _Assembly(d, meta["size"], meta["chunk"])
        with state.uploads_lock:
            state.uploads[d.name] = meta


def _session(req: Request, uid: str) -> dict[str, Any]:
    with req.state.uploads_lock:
        sess = req.state.uploads.get(uid)
    if sess is None:
        raise HubError(404, "Unknown or expired upload URL")
    return sess


def batch(req: Request, repo_type: str, repo_id: str) -> Response:
    require_user(req)
    repo = get_repo(req, repo_type, repo_id)
    data = req.json_body()
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise HubError(400, "Invalid LFS batch request")
    operation = data.get("operation", "upload")
    if operation == "upload":
        require_owner(req, repo.namespace)
    elif operation == "download":
        check_gated(req, repo)
    else:
        raise HubError(400, f"Unknown operation {operation!r}")
    st = req.state.storage
    knobs = req.state.knobs
    api, cdn = req.api_origin(), req.cdn_origin()
    any_multipart = False
    out: list[dict[str, Any]] = []
    for obj in data["objects"]:
        oid = str(obj.get("oid", "")) if isinstance(obj, dict) else ""
        size = obj.get("size") if isinstance(obj, dict) else None
        if not SHA256_RE.match(oid) or not isinstance(size, int) or size < 0:
            out.append(
                {"oid": oid, "size": size, "error": {"code": 422, "message": "Invalid oid or size"}}
            )
            continue
        item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        # Only objects a commit of this repo names are served; an upload is skipped only if the
        # repo has the object or the caller sent its content before. An object stored for another
        # repo counts as absent: the same answer as an unknown one (no existence oracle).
        user = req.user if operation == "upload" else None
        stored = st.repo_lfs_size(repo, oid, user) == size
        if operation == "download":
            if not stored:
                item["error"] = {"code": 404, "message": "Object does not exist"}
            else:
                item["actions"] = {"download": {"href": cdn_href(req, repo, oid), "header": {}}}
            out.append(item)
            continue
        if stored:
            out.append(item)  # already there: no actions
            continue
        if size >= knobs.multipart_threshold and size > 0:
            chunk = max(1, knobs.multipart_chunk_size)
            uid = _new_session(req, oid, size, chunk)
            header: dict[str, str] = {"chunk_size": str(chunk)}
            for n in range(1, math.ceil(size / chunk) + 1):
                header[str(n)] = f"{cdn}/_lfs/part/{uid}/{n}"
            upload = {"href": f"{api}/_lfs/complete/{uid}", "header": header}
            any_multipart = True
        else:
            uid = _new_session(req, oid, size, None)
            upload = {"href": f"{cdn}/_lfs/upload/{uid}", "header": {}}
        item["actions"] = {
            "upload": upload,
            "verify": {"href": f"{api}/_lfs/verify/{uid}", "header": {}},
        }
        out.append(item)
    return _lfs_json(
        {
            "transfer": "multipart" if any_multipart else "basic",
            "objects": out,
            "hash_algo": "sha256",
        }
    )


def upload_route(req: Request, s: list[str]) -> Response:
    m = req.method
    if len(s) == 2 and s[0] == "upload" and m == "PUT":
        return _put_basic(req, s[1])
    if len(s) == 3 and s[0] == "part" and m == "PUT" and s[2].isdigit():
        return _put_part(req, s[1], int(s[2]))
    if len(s) == 2 and s[0] == "complete" and m == "POST":
        return _complete(req, s[1])
    if len(s) == 2 and s[0] == "verify" and m == "POST":
        return _verify(req, s[1])
    raise HubError(404, "Not found")


def _put_basic(req: Request, uid: str) -> Response:
    sess = _session(req, uid)
    st = req.state.storage
    fd, tmp = st.new_temp()
    try:
        with os.fdopen(fd, "wb") as fh:
            size, sha = req.body_to_file(fh, limit=sess["size"])
        if size != sess["size"] or sha != sess["oid"]:
            raise HubError(
                400, f"Uploaded content does not match oid/size (got sha256 {sha}, {size} bytes)"
            )
        st.adopt_lfs_file(tmp, sha)
        st.grant_lfs(sess.get("user"), sha, size)  # the uploader proved it has the content
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Response(200, b"", {"ETag": f'"{sess["oid"][:32]}"'})


def close_sessions(state: HubState) -> None:
    """On stop: requests still reading a part body write nothing more (a server started again
    on the same root owns the open uploads)."""
    with state.uploads_lock:
        assemblies = [s["asm"] for s in state.uploads.values() if "asm" in s]
    for asm in assemblies:
        asm.close()


def _put_part(req: Request, uid: str, n: int) -> Response:
    sess = _session(req, uid)
    asm: _Assembly | None = sess.get("asm")
    if asm is None:
        raise HubError(400, "Not a multipart upload")
    if not 1 <= n <= asm.nparts:
        raise HubError(400, f"Invalid part number {n}")
    gen = asm.begin(n)
    sess["touched"] = time.time()
    try:
        etag = _receive_part(req, asm, n, gen)
    except BaseException:
        asm.end(n, gen, None)
        req.handler.close_connection = True  # the rest of the body is not read
        raise
    if not asm.end(n, gen, etag):
        raise _Superseded(n)
    return Response(200, b"", {"ETag": etag})


def _receive_part(req: Request, asm: _Assembly, n: int, gen: int) -> str:
    """Write the body of part ``n`` at its offset (as writer ``gen``); return its new ETag."""
    expected = asm.part_len(n)
    offset = (n - 1) * asm.chunk
    size = 0
    fd = os.open(asm.path, os.O_WRONLY)
    try:
        for buf in req.iter_body():
            if size + len(buf) > expected:  # never spill into the next part's bytes
                raise HubError(400, f"Part {n} is larger than {expected} bytes")
            asm.write(fd, n, gen, offset + size, buf)
            size += len(buf)
    except ConnectionError as exc:
        raise HubError(400, f"Part {n} was cut off ({exc.__class__.__name__})") from None
    finally:
        os.close(fd)
    if size != expected:
        raise HubError(400, f"Part {n} has {size} bytes, expected {expected}")
    return f'"{secrets.token_hex(16)}"'


def _completion_etags(data: Any, oid: str, nparts: int) -> dict[int, str]:
    """The (partNumber, etag) list of a completion request, numbered 1..N."""
    if not isinstance(data, dict) or data.get("oid") != oid:
        raise HubError(400, "Completion oid does not match the upload")
    parts = data.get("parts")
    if not isinstance(parts, list) or len(parts) != nparts:
        raise HubError(400, f"Expected {nparts} parts")
    etags: dict[int, str] = {}
    for p in parts:
        num = p.get("partNumber") if isinstance(p, dict) else None
        if type(num) is not int or not 1 <= num <= nparts or num in etags:
            raise HubError(400, "Parts must be numbered 1..N")
        etags[num] = str(p.get("etag"))
    return etags


def _complete(req: Request, uid: str) -> Response:
    sess = _session(req, uid)
    asm: _Assembly | None = sess.get("asm")
    data = req.json_body()
    if asm is None or sess.get("done"):
        raise HubError(400, "Not a pending multipart upload")
    etags = _completion_etags(data, sess["oid"], asm.nparts)
    with req.state.uploads_lock:
        if sess.get("done") or req.state.uploads.get(uid) is not sess:
            raise HubError(400, "Not a pending multipart upload")
        sess["done"] = True  # one completion at a time; a failed one re-opens below
    try:
        if asm.seal(etags) != sess["oid"] or asm.path.stat().st_size != sess["size"]:
            raise HubError(400, "Assembled object does not match oid/size")
        req.state.storage.adopt_lfs_file(str(asm.path), sess["oid"])
        req.state.storage.grant_lfs(sess.get("user"), sess["oid"], sess["size"])
    except BaseException:
        asm.unseal()
        sess["done"] = False
        raise
    with req.state.uploads_lock:
        _drop_session(req.state, uid)
        req.state.uploads[uid] = {k: v for k, v in sess.items() if k != "asm"}
    return _lfs_json({"success": True})


def _verify(req: Request, uid: str) -> Response:
    sess = _session(req, uid)
    data = req.json_body(req.state.limits.small_json)
    if not isinstance(data, dict):
        raise HubError(400, "Invalid verify body")
    oid, size = str(data.get("oid", "")), data.get("size")
    # only the session's own object, once its uploader sent the content (not merely "stored")
    owner = sess.get("user")
    granted = req.state.storage.granted_lfs_size(owner, oid) if oid == sess["oid"] else None
    if granted is None or granted != size or not req.state.storage.has_lfs(oid, size):
        raise HubError(404, f"Object {oid} not found or size mismatch")
    return _lfs_json({"success": True})
