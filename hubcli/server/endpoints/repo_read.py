"""Read endpoints of one repo: info (at a revision), tree, paths-info, refs and commits."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from hubcli.server.access import get_commit, get_repo
from hubcli.server.endpoints.links import paginate
from hubcli.server.ids import validate_path
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.views import commit_item, repo_summary, select_fields, tree_item


def repo_info(req: Request, repo_type: str, repo_id: str, rev: str | None) -> Response:
    repo = get_repo(req, repo_type, repo_id)
    st = req.state.storage
    if rev is None and not repo.refs["heads"]:
        commit = None
    else:
        commit = get_commit(req, repo, rev or "main")
    expand = req.query.get("expand", [])
    if expand and (req.qbool("blobs") or req.qbool("securityStatus")):
        raise ApiError(400, "expand cannot be combined with blobs or securityStatus")
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
        raise ApiError(
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
            raise ApiError(400, "Invalid JSON body") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Body must be a JSON object")
        paths = data.get("paths") or []
        expand = bool(data.get("expand"))
        if not isinstance(paths, list):
            raise ApiError(400, "paths must be a list")
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
