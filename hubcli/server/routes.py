"""URL routing and the read-side endpoints: listings, repo info, tree, paths-info, refs, commits,
resolve (file downloads) and the CDN blob endpoint."""

from __future__ import annotations

import base64
import json
import mimetypes
import os
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from hubcli.server.handler import HubError, Request, Response
from hubcli.server.storage import Commit, Repo, validate_path, validate_repo_id
from hubcli.server.views import (
    LISTING_DEFAULT,
    commit_item,
    repo_summary,
    select_fields,
    tree_item,
)

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIXES = {"datasets": "dataset", "spaces": "space"}


def route(req: Request) -> Response:
    s = req.segments
    m = req.method
    for seg in s:
        if "\0" in seg or "\\" in seg or seg in ("..", "."):
            raise HubError(400, "Invalid path")
    if s[:2] == ["_cdn", "lfs"] and len(s) == 6 and m in ("GET", "HEAD"):
        return cdn_get(req, s[2], f"{s[3]}/{s[4]}", s[5])
    if s and s[0] == "_lfs":
        from hubcli.server import lfs

        return lfs.upload_route(req, s[1:])
    if req.is_cdn:
        raise HubError(404, "Not found")
    if s and s[0] == "api":
        return api_route(req, s[1:])
    # /{prefix}{ns}/{name}/resolve/... and /{prefix}{ns}/{name}.git/info/lfs/objects/batch
    repo_type = "model"
    rest = s
    if s and s[0] in PREFIXES and len(s) >= 4:
        repo_type, rest = PREFIXES[s[0]], s[1:]
    if len(rest) >= 4 and rest[2] == "resolve" and m in ("GET", "HEAD"):
        return resolve(req, repo_type, f"{rest[0]}/{rest[1]}", rest[3:])
    if (
        len(rest) == 6
        and rest[1].endswith(".git")
        and rest[2:] == ["info", "lfs", "objects", "batch"]
    ):
        from hubcli.server import lfs

        if m != "POST":
            raise HubError(405, "Method not allowed")
        return lfs.batch(req, repo_type, f"{rest[0]}/{rest[1][:-4]}")
    raise HubError(404, "Not found")


def api_route(req: Request, s: list[str]) -> Response:
    from hubcli.server import write_routes as w

    m = req.method
    if s == ["agent-harnesses"]:
        return Response.json({"standardEnvVars": [], "harnesses": {}})
    if s in (["whoami-v2"], ["whoami"]):
        return whoami(req)
    if s == ["validate-yaml"] and m == "POST":
        return w.validate_yaml(req)
    if len(s) == 2 and s[0] == "repos" and m in ("POST", "DELETE"):
        return w.repos_admin(req, s[1])
    if not s or s[0] not in TYPES:
        raise HubError(404, "Not found")
    repo_type = TYPES[s[0]]
    if len(s) == 1 and m == "GET":
        return listing(req, repo_type)
    if len(s) < 3:
        raise HubError(404, "Not found")
    repo_id = f"{s[1]}/{s[2]}"
    validate_repo_id(repo_id)
    action, args = (s[3], s[4:]) if len(s) > 3 else ("", [])
    if action == "" and m == "GET":
        return repo_info(req, repo_type, repo_id, None)
    if action == "revision" and m == "GET" and args:
        return repo_info(req, repo_type, repo_id, "/".join(args))
    if action == "tree" and m == "GET" and args:
        rev, path = split_rev(args)
        return tree(req, repo_type, repo_id, rev, path)
    if action == "paths-info" and m == "POST" and args:
        return paths_info(req, repo_type, repo_id, "/".join(args))
    if action == "refs" and m == "GET":
        return refs(req, repo_type, repo_id)
    if action == "commits" and m == "GET" and args:
        return commits(req, repo_type, repo_id, "/".join(args))
    return w.repo_write_route(req, repo_type, repo_id, action, args)


def split_rev(args: list[str]) -> tuple[str, str]:
    """Split ``rev/path...`` segments; an unencoded ``refs/pr/N`` revision spans 3 segments."""
    if len(args) >= 3 and args[0] == "refs" and args[1] in ("pr", "convert", "heads", "tags"):
        return "/".join(args[:3]), "/".join(args[3:])
    return args[0], "/".join(args[1:])


# ---------------------------------------------------------------------- access control
def not_found(req: Request, repo_type: str, repo_id: str) -> HubError:
    msg = f"Repository Not Found for url: {req.origin()}{req.raw_path}."
    status = 401 if req.user is None else 404
    return HubError(status, msg, "RepoNotFound")


def get_repo(req: Request, repo_type: str, repo_id: str) -> Repo:
    """Find a repo the caller may read (private repos: owner only)."""
    validate_repo_id(repo_id)
    repo = req.state.storage.get_repo(repo_type, repo_id)
    user = req.user
    if repo is None or (repo.meta.get("private") and not req.state.is_owner(user, repo.namespace)):
        raise not_found(req, repo_type, repo_id)
    if repo.meta.get("disabled"):
        raise HubError(403, "Access to this resource is disabled.")
    return repo


def check_gated(req: Request, repo: Repo) -> None:
    gated = repo.meta.get("gated")
    if not gated:
        return
    user = req.user
    if req.state.is_owner(user, repo.namespace) or user in repo.meta.get("granted", []):
        return
    url = f"{req.origin()}/{repo.prefix}{repo.id}"
    if user is None:
        msg = f"Access to {repo.type} {repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in."  # noqa: E501
        raise HubError(401, msg, "GatedRepo")
    msg = f"Access to {repo.type} {repo.id} is restricted and you are not in the authorized list. Visit {url} to ask for access."  # noqa: E501
    raise HubError(403, msg, "GatedRepo")


def get_commit(req: Request, repo: Repo, rev: str) -> Commit:
    sha = req.state.storage.resolve_rev(repo, rev)
    commit = req.state.storage.get_commit(repo, sha) if sha else None
    if commit is None:
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
    return commit


# ---------------------------------------------------------------------- pagination
def paginate(req: Request, items: list[Any], page_size: int) -> tuple[list[Any], dict[str, str]]:
    offset = 0
    cursor = req.q("cursor")
    if cursor:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])
        except (ValueError, KeyError, TypeError):
            raise HubError(400, "Invalid cursor") from None
    page_size = max(1, page_size)
    page = items[offset : offset + page_size]
    headers: dict[str, str] = {}
    if offset + page_size < len(items):
        q = parse_qs(req.query_string, keep_blank_values=True)
        q["cursor"] = [
            base64.urlsafe_b64encode(json.dumps({"o": offset + page_size}).encode()).decode()
        ]
        url = f"{req.origin()}{req.raw_path}?{urlencode(q, doseq=True)}"
        headers["Link"] = f'<{url}>; rel="next"'
    headers["X-Total-Count"] = str(len(items))
    return page, headers


# ---------------------------------------------------------------------- endpoints
def whoami(req: Request) -> Response:
    user = req.user
    if user is None:
        raise HubError(401, "Invalid user token.")
    orgs = [
        {"type": "org", "name": org, "roleInOrg": "write"}
        for org, members in sorted(req.state.orgs.items())
        if user in members
    ]
    return Response.json(
        {
            "type": "user",
            "id": user,
            "name": user,
            "fullname": user.capitalize(),
            "email": f"{user}@example.com",
            "emailVerified": True,
            "isPro": False,
            "orgs": orgs,
            "auth": {
                "type": "access_token",
                "accessToken": {"displayName": "local", "role": "write"},
            },
        }
    )


def listing(req: Request, repo_type: str) -> Response:
    st = req.state.storage
    user = req.user
    searches = [x.lower() for x in req.query.get("search", []) if x]
    author = req.q("author")
    filters = [f for f in req.query.get("filter", []) if f]
    pipeline = req.q("pipeline_tag")
    rows: list[dict[str, Any]] = []
    for repo in st.list_repos(repo_type):
        if repo.meta.get("private") and not req.state.is_owner(user, repo.namespace):
            continue
        if author and repo.namespace.lower() != author.lower():
            continue
        if searches and not all(x in repo.id.lower() for x in searches):
            continue
        head = st.resolve_rev(repo, "main")
        summary = repo_summary(st, repo, st.get_commit(repo, head) if head else None)
        tags = set(summary["tags"])
        if filters and not all(f in tags or f == repo.id for f in filters):
            continue
        if pipeline and summary.get("pipeline_tag") != pipeline:
            continue
        gated = req.q("gated")
        if gated is not None and bool(summary["gated"]) != (gated.lower() == "true"):
            continue
        rows.append(summary)
    sort = req.q("sort")
    direction = req.q("direction")
    if sort in ("createdAt", "downloads", "lastModified", "likes", "trendingScore", "id"):
        desc = direction != "1"
        rows.sort(key=lambda r: r["id"])
        rows.sort(key=lambda r: r.get(sort) or 0, reverse=desc)
    else:
        rows.sort(key=lambda r: r["id"], reverse=direction == "-1")
    limit = req.q("limit")
    page_size = req.state.knobs.page_size
    if limit:
        try:
            limit_n = int(limit)
        except ValueError:
            raise HubError(400, "Invalid limit") from None
        rows = rows[:limit_n]
        page_size = min(page_size, max(1, limit_n))
    expand = req.query.get("expand", [])
    full = req.qbool("full")
    if expand and (full or req.qbool("cardData")):
        raise HubError(400, "expand cannot be combined with full or cardData")
    out = []
    for r in rows:
        if expand:
            item = select_fields(r, expand)
        elif full:
            item = dict(r)
            if not req.qbool("cardData"):
                item.pop("cardData", None)
        else:
            item = select_fields(r, LISTING_DEFAULT[repo_type])
            if req.qbool("cardData"):
                item["cardData"] = r["cardData"]
        out.append(item)
    page, headers = paginate(req, out, page_size)
    return Response.json(page, headers=headers)


def repo_info(req: Request, repo_type: str, repo_id: str, rev: str | None) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    st = req.state.storage
    if rev is None and not repo.refs["heads"]:
        commit = None
    else:
        commit = get_commit(req, repo, rev or "main")
    expand = req.query.get("expand", [])
    if expand and (req.qbool("blobs") or req.qbool("securityStatus")):
        raise HubError(400, "expand cannot be combined with blobs or securityStatus")
    summary = repo_summary(st, repo, commit, blobs=req.qbool("blobs"))
    if expand:
        summary = select_fields(summary, expand)
    elif req.qbool("securityStatus"):
        summary["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
    return Response.json(summary)


def tree(req: Request, repo_type: str, repo_id: str, rev: str, path: str) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    commit = get_commit(req, repo, rev)
    path = validate_path(path.strip("/"), allow_empty=True)
    dirs = commit.dirs()
    recursive = req.qbool("recursive")
    expand = req.qbool("expand")
    if path in commit.tree:
        paths = [path]
    elif path in dirs:
        if recursive:
            prefix = path + "/" if path else ""
            paths = sorted(
                [p for p in commit.tree if p.startswith(prefix)]
                + [d for d in dirs if d and d.startswith(prefix)]
            )
        else:
            paths = dirs[path]
    else:
        raise HubError(
            404,
            f"Entry not found: {path}",
            "EntryNotFound",
            {"X-Repo-Commit": commit.id},
        )
    page_size = req.state.knobs.page_size
    if expand:
        page_size = min(page_size, 50)
    page, headers = paginate(req, paths, page_size)
    st = req.state.storage
    return Response.json(
        [tree_item(st, repo, commit, p, expand=expand) for p in page], headers=headers
    )


def paths_info(req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    commit = get_commit(req, repo, rev)
    ctype = (req.headers.get("Content-Type") or "").lower()
    raw = req.body()
    paths: list[str]
    expand = False
    if "json" in ctype or raw.lstrip().startswith(b"{"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise HubError(400, "Invalid JSON body") from None
        if not isinstance(data, dict):
            raise HubError(400, "Body must be a JSON object")
        paths = data.get("paths") or []
        expand = bool(data.get("expand"))
        if not isinstance(paths, list):
            raise HubError(400, "paths must be a list")
    else:
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        paths = form.get("paths", [])
        expand = (form.get("expand", ["false"])[-1]).lower() in ("1", "true")
    dirs = commit.dirs()
    out = []
    st = req.state.storage
    for p in paths:
        p = validate_path(str(p).strip("/"), allow_empty=True)
        if p in commit.tree or (p and p in dirs):
            out.append(tree_item(st, repo, commit, p, expand=expand))
    return Response.json(out)


def refs(req: Request, repo_type: str, repo_id: str) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    r = repo.refs

    def items(kind: str, prefix: str) -> list[dict[str, str]]:
        return [
            {"name": n, "ref": f"{prefix}{n}", "targetCommit": sha}
            for n, sha in sorted(r[kind].items())
        ]

    body: dict[str, Any] = {
        "branches": items("heads", "refs/heads/"),
        "converts": [],
        "tags": items("tags", "refs/tags/"),
    }
    if req.qbool("include_prs"):
        body["pullRequests"] = [
            {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": sha}
            for n, sha in sorted(r["prs"].items(), key=lambda kv: int(kv[0]))
        ]
    return Response.json(body)


def commits(req: Request, repo_type: str, repo_id: str, rev: str) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    commit = get_commit(req, repo, rev)
    history = req.state.storage.history(repo, commit.id)
    formatted = "formatted" in req.query.get("expand[]", []) + req.query.get("expand", [])
    page, headers = paginate(req, history, min(req.state.knobs.page_size, 100))
    return Response.json([commit_item(c, formatted=formatted) for c in page], headers=headers)


# ---------------------------------------------------------------------- downloads
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
    headers["Accept-Ranges"] = "bytes"
    rng = parse_range(req.headers.get("Range"), size)
    if rng == "bad":
        headers["Content-Range"] = f"bytes */{size}"
        raise HubError(416, "Requested Range Not Satisfiable", None, headers)
    if isinstance(rng, tuple):
        start, end = rng
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(206, b"", headers, path, start, end - start + 1, can_fail=True)
    return Response(200, b"", headers, path, 0, size, can_fail=True)


def resolve(req: Request, repo_type: str, repo_id: str, args: list[str]) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    check_gated(req, repo)
    rev, path = split_rev(args)
    commit = get_commit(req, repo, rev)
    path = validate_path(path)
    entry = commit.tree.get(path)
    if entry is None:
        raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.id})
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
        loc = f"{cdn_href(req, repo, entry.sha256)}&filename={quote(name, safe='')}"
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
    return file_response(req, str(st.blob_file(entry)), entry.size, headers)


def cdn_href(req: Request, repo: Repo, sha256: str) -> str:
    """A signed CDN URL for LFS object ``sha256`` of ``repo``: valid for that repo and object
    only, until it expires. Call it only after checking the caller may read the object."""
    exp, sig = req.state.signer.sign(repo.key, sha256)
    return f"{req.cdn_origin()}/_cdn/lfs/{repo.key}/{sha256}?exp={exp}&sig={sig}"


def cdn_get(req: Request, repo_type: str, repo_id: str, sha256: str) -> Response:
    """Serve an LFS object to the holder of a URL from ``cdn_href`` (no token needed: the
    signature is the capability, like a presigned object-store URL)."""
    key = f"{repo_type}/{repo_id}"
    if not req.state.signer.check(key, sha256, req.q("exp"), req.q("sig")):
        raise HubError(403, "Invalid, expired or missing signature")
    st = req.state.storage
    p = st.lfs_path(sha256)
    try:
        size = os.stat(p).st_size
    except OSError:
        raise HubError(404, "Blob not found") from None
    name = req.q("filename") or sha256
    headers = {
        "ETag": f'"{sha256}"',
        "Content-Type": _content_type(name),
        "Content-Disposition": f'attachment; filename="{_ascii(name)}"',
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    return file_response(req, str(p), size, headers)


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
