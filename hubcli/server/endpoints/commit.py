"""Writing files: ``preupload`` (regular or LFS, ignored) and the NDJSON ``commit`` endpoint,
its body streamed line by line, regular contents staged in temp files until the commit is valid."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable, Iterator
from typing import Any

from hubcli.server.access import committable_lfs_size, writable_repo
from hubcli.server.endpoints.links import repo_url
from hubcli.server.ids import SHA256_RE, StorageError, git_blob_sha1, validate_path
from hubcli.server.records import Entry, FileOp, Repo
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.storage import Storage
from hubcli.server.views import is_lfs_path


def preupload(req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    data = req.json_body()
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise ApiError(400, "files must be a list")
    head_sha = st.resolve_rev(repo, rev)
    if head_sha is None and repo.refs["heads"] and not req.qbool("create_pr"):
        raise ApiError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
    head = st.get_commit(repo, head_sha) if head_sha else None
    gitattributes = None
    if head is not None and ".gitattributes" in head.tree:
        gitattributes = st.read_blob(head.tree[".gitattributes"]).decode("utf-8", "replace")
    ignore = [
        ln.strip()
        for ln in str(data.get("gitIgnore") or "").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    threshold = req.state.knobs.lfs_threshold
    out = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str):
            raise ApiError(400, "Each file needs a path")
        path = validate_path(f["path"])
        size = f.get("size") or 0
        if type(size) is not int or size < 0:
            raise ApiError(400, f"{path}: size must be a non-negative integer")
        lfs = is_lfs_path(path, size, threshold, gitattributes)
        name = path.rsplit("/", 1)[-1]
        should_ignore = any(
            fnmatch.fnmatchcase(name, p.strip("/")) or fnmatch.fnmatchcase(path, p.strip("/"))
            for p in ignore
        )
        item: dict[str, Any] = {
            "path": path,
            "uploadMode": "lfs" if lfs else "regular",
            "shouldIgnore": should_ignore,
        }
        cur = head.tree.get(path) if head else None
        if cur is not None:
            item["oid"] = cur.sha256 if (cur.sha256 and lfs) else cur.oid
        out.append(item)
    return Response.json({"files": out, "commitOid": head_sha})


def _load_line(line: bytes, n: int) -> Any:
    """One NDJSON line as JSON: decoded once as UTF-8 (fast), as bytes when json's own encoding
    detection must decide (a BOM, invalid UTF-8)."""
    try:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return json.loads(line)
        return json.loads(line if text.startswith("\ufeff") else text)
    except ValueError:
        raise ApiError(400, f"Malformed NDJSON at line {n}") from None


def _ndjson_objects(lines: Iterable[bytes]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, key, value) of each non-blank line; 400 for anything but {key, value}."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue  # blank as bytes.strip() sees it
        obj = _load_line(line, n)
        if not isinstance(obj, dict) or not isinstance(obj.get("value"), dict):
            raise ApiError(400, f"Malformed commit line {n}: expected {{key, value}}")
        yield n, str(obj.get("key")), obj["value"]


class _Staged:
    """Regular files of a commit being read: written to temp files as their lines arrive (never
    all in memory), moved into the blob store only once the whole body is valid."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.temps: dict[str, tuple[Entry, str]] = {}  # git sha1 -> (entry, temp path)
        self.entries: dict[str, Entry] = {}

    def add(self, data: bytes) -> Entry:
        sha1 = git_blob_sha1(data)
        known = self.entries.get(sha1)
        if known is not None:
            return known
        entry, tmp = self.storage.stage_regular(data)
        self.entries[sha1] = entry
        if tmp is not None:
            self.temps[sha1] = (entry, tmp)
        return entry

    def publish(self) -> None:
        while self.temps:
            _, (entry, tmp) = self.temps.popitem()
            self.storage.publish_regular(entry, tmp)

    def discard(self) -> None:
        while self.temps:
            _, (_, tmp) = self.temps.popitem()
            self.storage.discard_temp(tmp)


def _file_op(req: Request, repo: Repo, user: str, key: str, value: dict[str, Any],
             staged: _Staged) -> FileOp:  # fmt: skip
    """One validated commit operation (regular contents staged, LFS objects checked)."""
    path = value.get("path")
    if not isinstance(path, str):
        raise ApiError(400, f"{key}: missing path")
    if key == "deletedFolder":
        return FileOp("delete_folder", validate_path(path.rstrip("/")))
    path = validate_path(path)
    if key == "deletedFile":
        return FileOp("delete_file", path)
    if key == "file":
        enc = value.get("encoding", "base64")
        content = value.get("content", "")
        if not isinstance(content, str):
            raise ApiError(400, f"file {path}: content must be a string")
        try:
            data = base64.b64decode(content, validate=True) if enc == "base64" else content.encode()
        except (binascii.Error, ValueError):
            raise ApiError(400, f"file {path}: invalid base64 content") from None
        return FileOp("add", path, staged.add(data))
    # lfsFile: the object must be in this repo already, or uploaded (content sent) by this user;
    # an object stored only for other repos is refused exactly like a missing one
    oid = str(value.get("oid") or "").lower()
    if value.get("algo", "sha256") != "sha256" or not SHA256_RE.match(oid):
        raise ApiError(400, f"lfsFile {path}: invalid oid")
    size = value.get("size")
    have = committable_lfs_size(req, repo, oid, user)
    if have is None or (size is not None and size != have):
        raise ApiError(422, f"lfsFile {path}: LFS object {oid} not uploaded (or size mismatch)")
    return FileOp("add", path, Storage.lfs_entry(oid, have))


def _read_commit(
    req: Request, repo: Repo, user: str, lines: Iterable[bytes], staged: _Staged
) -> tuple[dict[str, Any], list[FileOp]]:
    header: dict[str, Any] | None = None
    ops: list[FileOp] = []
    max_ops = req.state.limits.max_commit_ops
    for n, key, value in _ndjson_objects(lines):
        if key == "header":
            if header is not None or ops:
                raise ApiError(400, "The header must be the first line, and only once")
            header = value
        elif key in ("file", "lfsFile", "deletedFile", "deletedFolder"):
            if header is None:
                raise ApiError(400, "The header must be the first line")
            if len(ops) >= max_ops:
                raise req.too_large(max_ops, "Commit (operations)")
            ops.append(_file_op(req, repo, user, key, value, staged))
        else:
            raise ApiError(400, f"Unknown commit operation key {key!r} at line {n}")
    if header is None:
        raise ApiError(400, "Missing commit header")
    return header, ops


def _commit_lines(req: Request) -> Iterable[bytes]:
    """The commit body as lines: NDJSON streamed (per-line and total caps), or the legacy JSON
    payload (a summary only)."""
    limits = req.state.limits
    ctype = (req.headers.get("Content-Type") or "").lower()
    if "json" in ctype and "ndjson" not in ctype:
        data = req.json_body()
        if not isinstance(data, dict):
            raise ApiError(400, "Body must be a JSON object")
        value = {"summary": str(data.get("summary") or "")}
        return [json.dumps({"key": "header", "value": value}).encode()]
    req.expect_at_most(limits.max_commit_size)
    line_cap = limits.commit_line_cap(req.state.knobs.lfs_threshold)
    # one line in memory at a time: its bytes, its text and the decoded content
    req.reserve(3 * min(line_cap, req.length if req.length is not None else line_cap))
    return req.iter_lines(line_cap, limits.max_commit_size)


def commit(req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo, user = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    staged = _Staged(st)
    try:
        header, ops = _read_commit(req, repo, user, _commit_lines(req), staged)
        summary = str(header.get("summary") or "").strip() or "Upload files"
        description = str(header.get("description") or "")
        parent = header.get("parentCommit")
        if parent is not None and not (isinstance(parent, str) and 5 <= len(parent) <= 40):
            raise ApiError(400, "Invalid parentCommit")
        staged.publish()  # everything validated: regular blobs (content-addressed) go in
    finally:
        staged.discard()
    create_pr = req.qbool("create_pr")
    try:
        new, pr = st.commit(
            repo,
            rev,
            ops,
            author=user,
            title=summary,
            message=description,
            parent_commit=parent,
            create_pr=create_pr,
        )
    except StorageError as e:
        raise ApiError(e.status, e.message, e.code) from None
    base = repo_url(req, repo)
    body: dict[str, Any] = {
        "success": True,
        "commitOid": new.id,
        "commitUrl": f"{base}/commit/{new.id}",
        "hookOutput": "",
    }
    if pr is not None:
        body["pullRequestUrl"] = f"{base}/discussions/{pr}"
    return Response.json(body)
