"""The upload session endpoints the LFS batch API hands out (``/_lfs/...``): basic PUT, multipart
part PUT, completion and verify. Like S3 presigned URLs, they need no Authorization header: the
unguessable session id is the capability, and every upload is checked against its sha256 and
size."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from hubcli.server.access import require_uploaded
from hubcli.server.endpoints.lfs_batch import lfs_json
from hubcli.server.ids import StorageError
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.store.base import SharedUploads
from hubcli.server.uploads import Assembly, Superseded, drop_session, get_session


def _session(req: Request, uid: str) -> dict[str, Any]:
    """The session ``uid``: from the store (object stores) or this server's own table."""
    shared = req.state.storage.uploads_in_store
    if shared is None:
        return get_session(req.state, uid)
    sess = shared.session(uid)
    if sess is None:
        raise ApiError(404, "Unknown or expired upload URL")
    return sess


def put_basic(req: Request, uid: str) -> Response:
    """``PUT /_lfs/upload/{uid}``: a whole object, checked against its sha256 and size."""
    sess = _session(req, uid)
    st = req.state.storage
    try:  # hashed as it arrives; stored only when the sha256 and size match
        st.receive_lfs(sess["oid"], sess["size"], req.iter_body(limit=sess["size"]))
    except StorageError as e:
        raise ApiError(e.status, e.message, e.code) from None
    st.grant_lfs(sess.get("user"), sess["oid"], sess["size"])  # the uploader proved it
    return Response(200, b"", {"ETag": f'"{sess["oid"][:32]}"'})


def put_part(req: Request, uid: str, n: int) -> Response:
    """``PUT /_lfs/part/{uid}/{n}``: part ``n`` of a multipart upload, written in place (or,
    on an object store, passed on into the store's multipart upload as it arrives)."""
    shared = req.state.storage.uploads_in_store
    if shared is not None:
        return _put_shared_part(req, shared, uid, n)
    sess = get_session(req.state, uid)
    asm: Assembly | None = sess.get("asm")
    if asm is None:
        raise ApiError(400, "Not a multipart upload")
    if not 1 <= n <= asm.nparts:
        raise ApiError(400, f"Invalid part number {n}")
    gen = asm.begin(n)
    sess["touched"] = time.time()
    try:
        etag = _receive_part(req, asm, n, gen)
    except BaseException:
        asm.end(n, gen, None)
        req.close_connection = True  # the rest of the body is not read
        raise
    if not asm.end(n, gen, etag):
        raise Superseded(n)
    return Response(200, b"", {"ETag": etag})


def _put_shared_part(req: Request, shared: SharedUploads, uid: str, n: int) -> Response:
    """A part for the store's multipart upload: read (at most one part, in memory: nothing on
    this replica's disk) and sent on as ``UploadPart``; its ETag is the store's."""
    sess = _session(req, uid)
    chunk = sess.get("chunk")
    if not chunk:
        raise ApiError(400, "Not a multipart upload")
    nparts = -(-int(sess["size"]) // int(chunk))
    if not 1 <= n <= nparts:
        raise ApiError(400, f"Invalid part number {n}")
    expected = min(int(chunk), int(sess["size"]) - int(chunk) * (n - 1))
    buf = bytearray()
    try:
        for piece in req.iter_body(limit=expected):
            buf += piece
    except ConnectionError as exc:
        req.close_connection = True
        raise ApiError(400, f"Part {n} was cut off ({exc.__class__.__name__})") from None
    try:
        etag = shared.put_part(uid, n, bytes(buf))
    except StorageError as e:
        raise ApiError(e.status, e.message, e.code) from None
    return Response(200, b"", {"ETag": etag})


def _receive_part(req: Request, asm: Assembly, n: int, gen: int) -> str:
    """Write the body of part ``n`` at its offset (as writer ``gen``); return its new ETag."""
    expected = asm.part_len(n)
    offset = (n - 1) * asm.chunk
    size = 0
    fd = os.open(asm.path, os.O_WRONLY)
    try:
        for buf in req.iter_body():
            if size + len(buf) > expected:  # never spill into the next part's bytes
                raise ApiError(400, f"Part {n} is larger than {expected} bytes")
            asm.write(fd, n, gen, offset + size, buf)
            size += len(buf)
    except ConnectionError as exc:
        raise ApiError(400, f"Part {n} was cut off ({exc.__class__.__name__})") from None
    finally:
        os.close(fd)
    if size != expected:
        raise ApiError(400, f"Part {n} has {size} bytes, expected {expected}")
    return f'"{secrets.token_hex(16)}"'


def _completion_etags(data: Any, oid: str, nparts: int) -> dict[int, str]:
    """The (partNumber, etag) list of a completion request, numbered 1..N."""
    if not isinstance(data, dict) or data.get("oid") != oid:
        raise ApiError(400, "Completion oid does not match the upload")
    parts = data.get("parts")
    if not isinstance(parts, list) or len(parts) != nparts:
        raise ApiError(400, f"Expected {nparts} parts")
    etags: dict[int, str] = {}
    for p in parts:
        num = p.get("partNumber") if isinstance(p, dict) else None
        if type(num) is not int or not 1 <= num <= nparts or num in etags:
            raise ApiError(400, "Parts must be numbered 1..N")
        etags[num] = str(p.get("etag"))
    return etags


def complete(req: Request, uid: str) -> Response:
    """``POST /_lfs/complete/{uid}``: check the part ETags and the sha256, store the object."""
    shared = req.state.storage.uploads_in_store
    if shared is not None:
        sess = _session(req, uid)
        if not sess.get("chunk"):
            raise ApiError(400, "Not a multipart upload")
        nparts = -(-int(sess["size"]) // int(sess["chunk"]))
        etags = _completion_etags(req.json_body(), sess["oid"], nparts)
        try:  # any replica: the upload id and the parts are in the store
            shared.complete(uid, etags)
        except StorageError as e:
            raise ApiError(e.status, e.message, e.code) from None
        req.state.storage.grant_lfs(sess.get("user"), sess["oid"], sess["size"])
        return lfs_json({"success": True})
    sess = get_session(req.state, uid)
    asm: Assembly | None = sess.get("asm")
    data = req.json_body()
    if asm is None or sess.get("done"):
        raise ApiError(400, "Not a pending multipart upload")
    etags = _completion_etags(data, sess["oid"], asm.nparts)
    with req.state.uploads_lock:
        if sess.get("done") or req.state.uploads.get(uid) is not sess:
            raise ApiError(400, "Not a pending multipart upload")
        sess["done"] = True  # one completion at a time; a failed one re-opens below
    try:
        if asm.seal(etags) != sess["oid"] or asm.path.stat().st_size != sess["size"]:
            raise ApiError(400, "Assembled object does not match oid/size")
        req.state.storage.adopt_lfs_file(str(asm.path), sess["oid"])
        req.state.storage.grant_lfs(sess.get("user"), sess["oid"], sess["size"])
    except BaseException:
        asm.unseal()
        sess["done"] = False
        raise
    with req.state.uploads_lock:
        drop_session(req.state, uid)
        req.state.uploads[uid] = {k: v for k, v in sess.items() if k != "asm"}
    return lfs_json({"success": True})


def verify(req: Request, uid: str) -> Response:
    """``POST /_lfs/verify/{uid}``: 200 once the session's uploader sent the object."""
    sess = _session(req, uid)
    data = req.json_body(req.state.limits.small_json)
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid verify body")
    oid, size = str(data.get("oid", "")), data.get("size")
    # only the session's own object, once its uploader sent the content (not merely "stored")
    require_uploaded(req, sess.get("user") if oid == sess["oid"] else None, oid, size)
    return lfs_json({"success": True})
