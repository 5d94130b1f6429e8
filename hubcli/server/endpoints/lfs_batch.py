"""The Git LFS batch API (``POST {repo}.git/info/lfs/objects/batch``): download actions (signed CDN
URLs) and upload actions (basic or multipart session URLs, see ``uploads``)."""

from __future__ import annotations

import math
from typing import Any

from hubcli.server.access import (
    cdn_href,
    check_gated,
    committable_lfs_size,
    get_repo,
    readable_lfs_size,
    require_owner,
    require_user,
)
from hubcli.server.ids import SHA256_RE
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.uploads import new_session

LFS_CTYPE = "application/vnd.git-lfs+json"


def lfs_json(obj: Any, status: int = 200) -> Response:
    """A JSON answer with the Git LFS media type."""
    resp = Response.json(obj, status)
    resp.headers["Content-Type"] = LFS_CTYPE
    return resp


def batch(req: Request, repo_type: str, repo_id: str) -> Response:
    """Download actions for objects the repo's commits name, upload actions for the others."""
    require_user(req)
    repo = get_repo(req, repo_type, repo_id)
    data = req.json_body()
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise ApiError(400, "Invalid LFS batch request")
    operation = data.get("operation", "upload")
    if operation == "upload":
        require_owner(req, repo.namespace)
    elif operation == "download":
        check_gated(req, repo)
    else:
        raise ApiError(400, f"Unknown operation {operation!r}")
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
        if operation == "upload":
            stored = committable_lfs_size(req, repo, oid, req.user) == size
        else:
            stored = readable_lfs_size(req, repo, oid) == size
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
        shared = req.state.storage.uploads_in_store  # object stores: sessions in the store
        if size >= knobs.multipart_threshold and size > 0:
            chunk = max(1, knobs.multipart_chunk_size)
            urls: list[str] | None = None
            if shared is not None:
                chunk = shared.chunk_size(size, chunk)
                uid = shared.open(req.user, oid, size, chunk)
                urls = shared.part_urls(uid)  # --presign: straight to the store
            else:
                uid = new_session(req.state, req.user, oid, size, chunk)
            header: dict[str, str] = {"chunk_size": str(chunk)}
            for n in range(1, math.ceil(size / chunk) + 1):
                header[str(n)] = urls[n - 1] if urls else f"{cdn}/_lfs/part/{uid}/{n}"
            upload = {"href": f"{api}/_lfs/complete/{uid}", "header": header}
            any_multipart = True
        else:
            if shared is not None:
                uid = shared.open(req.user, oid, size, None)
            else:
                uid = new_session(req.state, req.user, oid, size, None)
            upload = {"href": f"{cdn}/_lfs/upload/{uid}", "header": {}}
        item["actions"] = {
            "upload": upload,
            "verify": {"href": f"{api}/_lfs/verify/{uid}", "header": {}},
        }
        out.append(item)
    return lfs_json(
        {
            "transfer": "multipart" if any_multipart else "basic",
            "objects": out,
            "hash_algo": "sha256",
        }
    )
