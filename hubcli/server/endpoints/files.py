"""File downloads: ``resolve`` (regular files served, LFS files redirected to a signed CDN URL),
the CDN blob endpoint, byte ranges and the headers of a file answer."""

from __future__ import annotations

import mimetypes
from urllib.parse import quote

from hubcli.server.access import cdn_href, check_cdn_signature, check_gated, get_commit, get_repo
from hubcli.server.ids import StorageError, validate_path
from hubcli.server.records import Entry
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """Return (start, end_inclusive), None for no/ignored range, or "bad" (416)."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[6:]
    if "," in spec:
        return None
    a, _, b = spec.partition("-")
    try:
        if a.strip() == "":
            n = int(b)
            if n <= 0:
                return "bad"
            return (max(0, size - n), size - 1) if size else "bad"
        start = int(a)
        end = int(b) if b.strip() else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


def file_response(req: Request, path: str, size: int, headers: dict[str, str]) -> Response:
    """``size`` bytes of the file at ``path`` (200), or the requested range of it (206, 416)."""
    headers["Accept-Ranges"] = "bytes"
    rng = parse_range(req.headers.get("Range"), size)
    if rng == "bad":
        headers["Content-Range"] = f"bytes */{size}"
        raise ApiError(416, "Requested Range Not Satisfiable", None, headers)
    if isinstance(rng, tuple):
        start, end = rng
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(206, b"", headers, path, start, end - start + 1, can_fail=True)
    return Response(200, b"", headers, path, 0, size, can_fail=True)


def blob_response(req: Request, entry: Entry, size: int, headers: dict[str, str]) -> Response:
    """A stored blob (200), or the requested range of it (206, 416): sent from its local file
    (file stores), or streamed from the object store with a ranged GET."""
    st = req.state.storage
    path = st.local_blob_path(entry)
    if path is not None:
        return file_response(req, path, size, headers)
    headers["Accept-Ranges"] = "bytes"
    rng = parse_range(req.headers.get("Range"), size)
    if rng == "bad":
        headers["Content-Range"] = f"bytes */{size}"
        raise ApiError(416, "Requested Range Not Satisfiable", None, headers)
    start, count, status = 0, size, 200
    if isinstance(rng, tuple):
        start, count, status = rng[0], rng[1] - rng[0] + 1, 206
        headers["Content-Range"] = f"bytes {start}-{rng[1]}/{size}"
    if req.method == "HEAD":
        return Response(status, b"", headers, stream=iter(()), file_count=count)
    return Response(
        status, b"", headers, file_count=count, can_fail=True,
        stream=st.open_blob(entry, start, count),
    )  # fmt: skip


def resolve(req: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
    """``GET|HEAD /{repo}/resolve/{rev}/{path}``: a regular file's bytes (ranges allowed), or a
    302 to a signed CDN URL for an LFS file."""
    repo = get_repo(req, repo_type, repo_id)
    check_gated(req, repo)
    commit = get_commit(req, repo, rev)
    path = validate_path(path)
    entry = commit.tree.get(path)
    if entry is None:
        raise ApiError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.id})
    st = req.state.storage
    name = path.rsplit("/", 1)[-1]
    headers = {
        "X-Repo-Commit": commit.id,
        "Content-Disposition": (
            f"inline; filename*=UTF-8''{quote(name)}; filename=\"{_ascii(name)}\""
        ),
        "Vary": "Origin, Accept-Encoding",
    }
    if entry.sha256:
        # a presigned object-store URL when the store hands them out (--presign), else the
        # signed CDN origin: either way another origin, so the client's token is not sent
        loc = st.presign_blob(entry, name) or (
            f"{cdn_href(req, repo, entry.sha256)}&filename={quote(name, safe='')}"
        )
        headers.update(
            {
                "Location": loc,
                "ETag": f'"{entry.oid}"',
                "X-Linked-Etag": f'"{entry.sha256}"',
                "X-Linked-Size": str(entry.size),
                "Content-Type": "text/plain; charset=utf-8",
            }
        )
        return Response(302, b"", headers)
    headers["ETag"] = f'"{entry.oid}"'
    headers["Content-Type"] = _content_type(name)
    return blob_response(req, entry, entry.size, headers)


def cdn_get(req: Request, repo_type: str, repo_id: str, sha256: str) -> Response:
    """Serve an LFS object to the holder of a URL from ``cdn_href`` (no token needed: the
    signature is the capability, like a presigned object-store URL)."""
    check_cdn_signature(req, f"{repo_type}/{repo_id}", sha256)
    st = req.state.storage
    entry = Entry(0, "", sha256)
    try:
        size = st.blob_size(entry)
    except StorageError:
        size = None
    if size is None:
        raise ApiError(404, "Blob not found")
    entry.size = size
    name = req.q("filename") or sha256
    headers = {
        "ETag": f'"{sha256}"',
        "Content-Type": _content_type(name),
        "Content-Disposition": f'attachment; filename="{_ascii(name)}"',
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    return blob_response(req, entry, size, headers)


def _ascii(name: str) -> str:
    """``name`` fit for a quoted header parameter: ASCII, no quotes, no control characters."""
    text = name.encode("ascii", "replace").decode()
    return "".join("_" if c in '"\\' or ord(c) < 32 or ord(c) == 127 else c for c in text)


def _content_type(name: str) -> str:
    ctype, _ = mimetypes.guess_type(name, strict=False)
    if ctype is None:
        return "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/json", "application/xml"):
        return f"{ctype}; charset=utf-8"
    return ctype
