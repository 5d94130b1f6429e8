"""Write-side endpoints: repo create/delete/move, branches, tags, settings, preupload,
NDJSON commit, YAML validation and minimal pull-request discussions."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
from collections.abc import Iterable, Iterator
from typing import Any

from hubcli.server.handler import HubError, Request, Response
from hubcli.server.routes import get_commit, get_repo
from hubcli.server.storage import (
    SHA256_RE,
    Entry,
    FileOp,
    Repo,
    Storage,
    StorageError,
    git_blob_sha1,
    now_iso,
    validate_path,
    validate_ref_name,
    validate_repo_id,
)
from hubcli.server.views import DEFAULT_GITATTRIBUTES, is_lfs_path, parse_front_matter

_TYPE_NAMES = {"model": "model", "dataset": "dataset", "space": "space", None: "model"}


def require_user(req: Request) -> str:
    user = req.user
    if user is None:
        raise HubError(401, "You must be authenticated to perform this action (no token).")
    return user


def require_owner(req: Request, namespace: str) -> str:
    user = require_user(req)
    if not req.state.is_owner(user, namespace):
        raise HubError(403, f"You don't have the rights to write to the namespace {namespace}")
    return user


def writable_repo(req: Request, repo_type: str, repo_id: str) -> tuple[Repo, str]:
    require_user(req)
    repo = get_repo(req, repo_type, repo_id)
    return repo, require_owner(req, repo.namespace)


def repo_url(req: Request, repo: Repo) -> str:
    return f"{req.api_origin()}/{repo.prefix}{repo.id}"


# ---------------------------------------------------------------------- /api/validate-yaml
def validate_yaml(req: Request) -> Response:
    data = req.json_body()
    content = data.get("content", "") if isinstance(data, dict) else ""
    if (
        isinstance(content, str)
        and content.startswith("---")
        and parse_front_matter(content) is None
        and content.strip() != "---"
    ):
        err = {"errors": [{"message": "Invalid YAML in README front matter"}], "warnings": []}
        return Response.json(err, 400)
    return Response.json({"errors": [], "warnings": []})


# ---------------------------------------------------------------------- /api/repos/*
def repos_admin(req: Request, action: str) -> Response:
    user = require_user(req)  # before reading the body
    data = req.json_body(req.state.limits.small_json)
    if not isinstance(data, dict):
        raise HubError(400, "Body must be a JSON object")
    st = req.state.storage
    repo_type = data.get("type") or "model"
    if repo_type not in ("model", "dataset", "space"):
        raise HubError(400, f"Invalid repo type: {repo_type}")
    if action == "move":
        src, dst = str(data.get("fromRepo", "")), str(data.get("toRepo", ""))
        validate_repo_id(dst)
        repo = get_repo(req, repo_type, src)
        require_owner(req, repo.namespace)
        require_owner(req, dst.split("/")[0])
        st.move_repo(repo, dst)
        return Response.json({"success": True})
    name = str(data.get("name") or "")
    org = data.get("organization") or None
    if "/" in name and org is None:
        org, name = name.split("/", 1)
    repo_id = f"{org or user}/{name}"
    validate_repo_id(repo_id)
    if action == "create" and req.method == "POST":
        require_owner(req, repo_id.split("/")[0])
        visibility = data.get("visibility")
        private = visibility == "private" if visibility else bool(data.get("private"))
        if repo_type == "space" and not data.get("sdk"):
            raise HubError(400, "sdk is required for Spaces")
        meta: dict[str, Any] = {"private": private, "owner": user}
        if data.get("sdk"):
            meta["sdk"] = data["sdk"]
        existing = st.get_repo(repo_type, repo_id)
        if existing is not None:
            # huggingface_hub reads "url" from the 409 body when exist_ok=True
            msg = f"You already created this {repo_type} repo"
            body = {"error": msg, "url": repo_url(req, existing)}
            return Response.json(body, 409, {"X-Error-Message": msg})
        repo = st.create_repo(repo_type, repo_id, meta)
        attrs = st.put_regular(DEFAULT_GITATTRIBUTES.encode())
        st.commit(
            repo,
            "main",
            [FileOp("add", ".gitattributes", attrs)],
            author=user,
            title="initial commit",
        )
        return Response.json({"url": repo_url(req, repo), "name": repo.id, "id": repo.meta["_id"]})
    if action == "delete" and req.method == "DELETE":
        repo = get_repo(req, repo_type, repo_id)
        require_owner(req, repo.namespace)
        st.delete_repo(repo)
        return Response.json({"success": True})
    raise HubError(404, "Not found")


# ---------------------------------------------------------------------- /api/{types}/{id}/...
def repo_write_route(
    req: Request, repo_type: str, repo_id: str, action: str, args: list[str]
) -> Response:
    m = req.method
    if action == "preupload" and m == "POST" and args:
        return preupload(req, repo_type, repo_id, "/".join(args))
    if action == "commit" and m == "POST" and args:
        return commit(req, repo_type, repo_id, "/".join(args))
    if action == "branch" and m in ("POST", "DELETE") and args:
        return branch(req, repo_type, repo_id, "/".join(args))
    if action == "tag" and m in ("POST", "DELETE") and args:
        return tag(req, repo_type, repo_id, "/".join(args))
    if action == "settings" and m == "PUT":
        return settings(req, repo_type, repo_id)
    if action == "discussions":
        return discussions(req, repo_type, repo_id, args)
    raise HubError(404, "Not found")


def branch(req: Request, repo_type: str, repo_id: str, name: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    validate_ref_name(name)
    if req.method == "DELETE":
        if name not in repo.refs["heads"]:
            raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
        if name == "main":
            raise HubError(403, "Cannot delete the default branch")
        st.set_ref(repo, "heads", name, None)
        return Response.json({"success": True})
    data = req.json_body(req.state.limits.small_json) or {}
    if name in repo.refs["heads"]:
        raise HubError(409, f"Branch {name} already exists")
    start = (data.get("startingPoint") if isinstance(data, dict) else None) or "main"
    sha = get_commit(req, repo, str(start)).id
    st.set_ref(repo, "heads", name, sha)
    return Response.json({"success": True, "targetCommit": sha})


def tag(req: Request, repo_type: str, repo_id: str, arg: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    if req.method == "DELETE":
        if arg not in repo.refs["tags"]:
            raise HubError(404, f"Invalid rev id: {arg}", "RevisionNotFound")
        st.set_ref(repo, "tags", arg, None)
        return Response.json({"success": True})
    data = req.json_body(req.state.limits.small_json) or {}
    name = str(data.get("tag") or "") if isinstance(data, dict) else ""
    validate_ref_name(name)
    if name in repo.refs["tags"]:
        raise HubError(409, f"Tag {name} already exists")
    sha = get_commit(req, repo, arg).id
    st.set_ref(repo, "tags", name, sha)
    return Response.json({"success": True, "targetCommit": sha})


def settings(req: Request, repo_type: str, repo_id: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    data = req.json_body(req.state.limits.small_json)
    if not isinstance(data, dict):
        raise HubError(400, "Body must be a JSON object")
    if "gated" in data:
        if data["gated"] not in (False, "auto", "manual"):
            raise HubError(400, "gated must be false, 'auto' or 'manual'")
        repo.meta["gated"] = data["gated"]
    if "visibility" in data:
        repo.meta["private"] = data["visibility"] == "private"
    if "private" in data:
        repo.meta["private"] = bool(data["private"])
    req.state.storage.save_meta(repo)
    return Response.json({"success": True})


def preupload(req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    data = req.json_body()
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        raise HubError(400, "files must be a list")
    head_sha = st.resolve_rev(repo, rev)
    if head_sha is None and repo.refs["heads"] and not req.qbool("create_pr"):
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
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
            raise HubError(400, "Each file needs a path")
        path = validate_path(f["path"])
        size = f.get("size") or 0
        if type(size) is not int or size < 0:
            raise HubError(400, f"{path}: size must be a non-negative integer")
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
        raise HubError(400, f"Malformed NDJSON at line {n}") from None


def _ndjson_objects(lines: Iterable[bytes]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """(line number, key, value) of each non-blank line; 400 for anything but {key, value}."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue  # blank as bytes.strip() sees it
        obj = _load_line(line, n)
        if not isinstance(obj, dict) or not isinstance(obj.get("value"), dict):
            raise HubError(400, f"Malformed commit line {n}: expected {{key, value}}")
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
        raise HubError(400, f"{key}: missing path")
    if key == "deletedFolder":
        return FileOp("delete_folder", validate_path(path.rstrip("/")))
    path = validate_path(path)
    if key == "deletedFile":
        return FileOp("delete_file", path)
    if key == "file":
        enc = value.get("encoding", "base64")
        content = value.get("content", "")
        if not isinstance(content, str):
            raise HubError(400, f"file {path}: content must be a string")
        try:
            data = base64.b64decode(content, validate=True) if enc == "base64" else content.encode()
        except (binascii.Error, ValueError):
            raise HubError(400, f"file {path}: invalid base64 content") from None
        return FileOp("add", path, staged.add(data))
    # lfsFile: the object must be in this repo already, or uploaded (content sent) by this user;
    # an object stored only for other repos is refused exactly like a missing one
    oid = str(value.get("oid") or "").lower()
    if value.get("algo", "sha256") != "sha256" or not SHA256_RE.match(oid):
        raise HubError(400, f"lfsFile {path}: invalid oid")
    size = value.get("size")
    have = req.state.storage.repo_lfs_size(repo, oid, user)
    if have is None or (size is not None and size != have):
        raise HubError(422, f"lfsFile {path}: LFS object {oid} not uploaded (or size mismatch)")
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
                raise HubError(400, "The header must be the first line, and only once")
            header = value
        elif key in ("file", "lfsFile", "deletedFile", "deletedFolder"):
            if header is None:
                raise HubError(400, "The header must be the first line")
            if len(ops) >= max_ops:
                raise req.too_large(max_ops, "Commit (operations)")
            ops.append(_file_op(req, repo, user, key, value, staged))
        else:
            raise HubError(400, f"Unknown commit operation key {key!r} at line {n}")
    if header is None:
        raise HubError(400, "Missing commit header")
    return header, ops


def _commit_lines(req: Request) -> Iterable[bytes]:
    """The commit body as lines: NDJSON streamed (per-line and total caps), or the legacy JSON
    payload (a summary only)."""
    limits = req.state.limits
    ctype = (req.headers.get("Content-Type") or "").lower()
    if "json" in ctype and "ndjson" not in ctype:
        data = req.json_body()
        if not isinstance(data, dict):
            raise HubError(400, "Body must be a JSON object")
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
            raise HubError(400, "Invalid parentCommit")
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
        raise HubError(e.status, e.message, e.code) from None
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


def discussions(req: Request, repo_type: str, repo_id: str, args: list[str]) -> Response:
    """Just enough of the discussions API to open and inspect pull requests."""
    if req.method == "POST" and not args:
        repo, user = writable_repo(req, repo_type, repo_id)
        data = req.json_body(req.state.limits.small_json) or {}
        if not isinstance(data, dict) or not data.get("pullRequest"):
            raise HubError(400, "Only pull requests are supported by this server")
        st = req.state.storage
        head = get_commit(req, repo, "main").id
        with repo.lock:
            num = int(repo.meta.get("next_pr", 1))
            repo.meta["next_pr"] = num + 1
            repo.meta.setdefault("prs", {})[str(num)] = {
                "title": str(data.get("title") or ""),
                "base": "main",
                "author": user,
                "createdAt": now_iso(),
            }
            st.save_meta(repo)
            st.set_ref(repo, "prs", str(num), head)
        return Response.json({"num": num, "url": f"{repo_url(req, repo)}/discussions/{num}"})
    if req.method == "GET" and len(args) == 1 and args[0].isdigit():
        repo = get_repo(req, repo_type, repo_id)
        info = repo.meta.get("prs", {}).get(args[0])
        if info is None:
            raise HubError(404, "Discussion not found")
        base = req.state.storage.resolve_rev(repo, info.get("base", "main"))
        return Response.json(
            {
                "num": int(args[0]),
                "title": info["title"],
                "status": "open",
                "isPullRequest": True,
                "createdAt": info["createdAt"],
                "author": {"name": info["author"], "type": "user"},
                "repo": {"name": repo.id, "type": repo.type},
                "events": [],
                "pinned": False,
                "locked": False,
                "conflictingFiles": [],
                "filesWithConflicts": [],
                "changes": {"base": base, "mergeCommitId": None},
                "diff": "",
                "headRef": f"refs/pr/{args[0]}",
            }
        )
    raise HubError(404, "Not found")
