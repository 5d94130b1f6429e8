"""Git LFS batch API with basic and multipart upload transfers, completion and verify.

Upload actions point at unguessable per-object session URLs (``/_lfs/...``): like S3 presigned
URLs, they need no Authorization header, which huggingface_hub does not send there. Every upload is
checked against the announced sha256 and size before it enters the blob store.

Multipart parts are written straight into one file at their offsets, and the object's sha256 is
advanced over the contiguous prefix of finished parts as they arrive, so completion only has to
hash what is left (usually nothing) and rename: like S3, it does not copy the object again.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from hubcli.server.handler import HubError, Request, Response
from hubcli.server.routes import cdn_href, check_gated, get_repo
from hubcli.server.storage import SHA256_RE
from hubcli.server.write_routes import require_owner, require_user

LFS_CTYPE = "application/vnd.git-lfs+json"
SESSION_TTL = 24 * 3600


def _lfs_json(obj: Any, status: int = 200) -> Response:
    resp = Response.json(obj, status)
    resp.headers["Content-Type"] = LFS_CTYPE
    return resp


class _Assembly:
    """One multipart object being assembled in place: part ETags and the running sha256.

    ``hashed`` counts the parts (from 1, contiguous) already fed to the hasher. A part that is
    uploaded again after it was hashed resets the hasher (its bytes may differ).
    """

    def __init__(self, path: Path, size: int, chunk: int) -> None:
        self.path = path
        self.size = size
        self.chunk = chunk
        self.nparts = math.ceil(size / chunk)
        self.lock = threading.Lock()
        self.etags: dict[int, str] = {}
        self.writing: set[int] = set()
        self.hasher = hashlib.sha256()
        self.hashed = 0
        with open(path, "ab"):
            pass  # the file exists from the start; parts are written at their offsets

    def part_len(self, n: int) -> int:
        return self.chunk if n < self.nparts else self.size - self.chunk * (self.nparts - 1)

    def begin(self, n: int) -> None:
        with self.lock:
            if n in self.writing:
                raise HubError(409, f"Part {n} is already being uploaded")
            self.writing.add(n)
            self.etags.pop(n, None)
            if n <= self.hashed:
                self.hasher, self.hashed = hashlib.sha256(), 0

    def end(self, n: int, etag: str | None) -> None:
        with self.lock:
            self.writing.discard(n)
            if etag is not None:
                self.etags[n] = etag
                self._advance()

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

    def sha256(self) -> str | None:
        """The object's sha256 once every part is in (hashing what is left), else None."""
        with self.lock:
            self._advance()
            return self.hasher.hexdigest() if self.hashed == self.nparts else None


def _new_session(req: Request, oid: str, size: int, chunk: int | None) -> str:
    uid = secrets.token_urlsafe(18)
    now = time.time()
    with req.state.uploads_lock:
        for k in [k for k, v in req.state.uploads.items() if now - v["created"] > SESSION_TTL]:
            _drop_session(req, k)
        if chunk is not None:  # resume: a pending multipart upload keeps its part URLs and parts
            for k, v in req.state.uploads.items():
                same = (v["oid"], v["size"], v["chunk"]) == (oid, size, chunk)
                if same and not v.get("done"):
                    return k
        sess: dict[str, Any] = {
            "oid": oid, "size": size, "chunk": chunk, "user": req.user, "created": now
        }  # fmt: skip
        if chunk is not None:
            d = _parts_dir(req, uid)
            d.mkdir(parents=True, exist_ok=True)
            sess["asm"] = _Assembly(d / "data", size, chunk)
        req.state.uploads[uid] = sess
    return uid


def _drop_session(req: Request, uid: str) -> None:
    req.state.uploads.pop(uid, None)
    shutil.rmtree(_parts_dir(req, uid), ignore_errors=True)


def _parts_dir(req: Request, uid: str) -> Path:
    return req.state.storage.tmp / f"parts-{uid}"


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


def _put_part(req: Request, uid: str, n: int) -> Response:
    sess = _session(req, uid)
    asm: _Assembly | None = sess.get("asm")
    if asm is None:
        raise HubError(400, "Not a multipart upload")
    if not 1 <= n <= asm.nparts:
        raise HubError(400, f"Invalid part number {n}")
    expected = asm.part_len(n)
    asm.begin(n)
    etag: str | None = None
    try:
        size = 0
        with open(asm.path, "r+b") as fh:
            fh.seek((n - 1) * asm.chunk)
            for buf in req.iter_body():
                if size + len(buf) > expected:  # never spill into the next part's bytes
                    raise HubError(400, f"Part {n} is larger than {expected} bytes")
                fh.write(buf)
                size += len(buf)
        if size != expected:
            raise HubError(400, f"Part {n} has {size} bytes, expected {expected}")
        etag = f'"{secrets.token_hex(16)}"'
    finally:
        asm.end(n, etag)
    return Response(200, b"", {"ETag": etag})


def _complete(req: Request, uid: str) -> Response:
    sess = _session(req, uid)
    asm: _Assembly | None = sess.get("asm")
    data = req.json_body()
    if asm is None or sess.get("done"):
        raise HubError(400, "Not a pending multipart upload")
    if not isinstance(data, dict) or data.get("oid") != sess["oid"]:
        raise HubError(400, "Completion oid does not match the upload")
    parts = data.get("parts")
    if not isinstance(parts, list) or len(parts) != asm.nparts:
        raise HubError(400, f"Expected {asm.nparts} parts")
    for i, p in enumerate(sorted(parts, key=lambda p: int(p.get("partNumber", 0))), 1):
        if int(p.get("partNumber", 0)) != i:
            raise HubError(400, "Parts must be numbered 1..N")
        etag = asm.etags.get(i)
        if etag is None:
            raise HubError(400, f"Part {i} was not uploaded")
        if p.get("etag") != etag:
            raise HubError(400, f"ETag mismatch for part {i}")
    with req.state.uploads_lock:
        if sess.get("done") or req.state.uploads.get(uid) is not sess:
            raise HubError(400, "Not a pending multipart upload")
        sess["done"] = True  # one completion at a time; a failed one re-opens below
    try:
        if asm.sha256() != sess["oid"] or asm.path.stat().st_size != sess["size"]:
            raise HubError(400, "Assembled object does not match oid/size")
        req.state.storage.adopt_lfs_file(str(asm.path), sess["oid"])
        req.state.storage.grant_lfs(sess.get("user"), sess["oid"], sess["size"])
    except BaseException:
        sess["done"] = False
        raise
    with req.state.uploads_lock:
        _drop_session(req, uid)
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
