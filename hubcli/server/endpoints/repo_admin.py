"""Repo administration: create, delete and move (``/api/repos/*``), branches, tags and settings."""

from __future__ import annotations

from typing import Any

from hubcli.server.access import get_commit, get_repo, require_owner, require_user, writable_repo
from hubcli.server.endpoints.links import repo_url
from hubcli.server.ids import validate_ref_name, validate_repo_id
from hubcli.server.records import FileOp
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.views import DEFAULT_GITATTRIBUTES
from hubcli.server.web.reserved import check_namespace


def repos_admin(req: Request, action: str) -> Response:
    user = require_user(req)  # before reading the body
    data = req.json_body(req.state.limits.small_json)
    if not isinstance(data, dict):
        raise ApiError(400, "Body must be a JSON object")
    st = req.state.storage
    repo_type = data.get("type") or "model"
    if repo_type not in ("model", "dataset", "space"):
        raise ApiError(400, f"Invalid repo type: {repo_type}")
    if action == "move":
        src, dst = str(data.get("fromRepo", "")), str(data.get("toRepo", ""))
        validate_repo_id(dst)
        check_namespace(dst.split("/")[0])
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
        check_namespace(repo_id.split("/")[0])  # /models, /login, ... are web pages
        require_owner(req, repo_id.split("/")[0])
        visibility = data.get("visibility")
        private = visibility == "private" if visibility else bool(data.get("private"))
        if repo_type == "space" and not data.get("sdk"):
            raise ApiError(400, "sdk is required for Spaces")
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
    raise ApiError(404, "Not found")


def branch(req: Request, repo_type: str, repo_id: str, name: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    validate_ref_name(name)
    if req.method == "DELETE":
        if name not in repo.refs["heads"]:
            raise ApiError(404, f"Invalid rev id: {name}", "RevisionNotFound")
        if name == "main":
            raise ApiError(403, "Cannot delete the default branch")
        st.set_ref(repo, "heads", name, None)
        return Response.json({"success": True})
    data = req.json_body(req.state.limits.small_json) or {}
    if name in repo.refs["heads"]:
        raise ApiError(409, f"Branch {name} already exists")
    start = (data.get("startingPoint") if isinstance(data, dict) else None) or "main"
    sha = get_commit(req, repo, str(start)).id
    st.set_ref(repo, "heads", name, sha, expect=None)  # 409 if another request created it
    return Response.json({"success": True, "targetCommit": sha})


def tag(req: Request, repo_type: str, repo_id: str, arg: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    st = req.state.storage
    if req.method == "DELETE":
        if arg not in repo.refs["tags"]:
            raise ApiError(404, f"Invalid rev id: {arg}", "RevisionNotFound")
        st.set_ref(repo, "tags", arg, None)
        return Response.json({"success": True})
    data = req.json_body(req.state.limits.small_json) or {}
    name = str(data.get("tag") or "") if isinstance(data, dict) else ""
    validate_ref_name(name)
    if name in repo.refs["tags"]:
        raise ApiError(409, f"Tag {name} already exists")
    sha = get_commit(req, repo, arg).id
    st.set_ref(repo, "tags", name, sha, expect=None)  # 409 if another request created it
    return Response.json({"success": True, "targetCommit": sha})


def settings(req: Request, repo_type: str, repo_id: str) -> Response:
    repo, _ = writable_repo(req, repo_type, repo_id)
    data = req.json_body(req.state.limits.small_json)
    if not isinstance(data, dict):
        raise ApiError(400, "Body must be a JSON object")
    if "gated" in data:
        if data["gated"] not in (False, "auto", "manual"):
            raise ApiError(400, "gated must be false, 'auto' or 'manual'")
        repo.meta["gated"] = data["gated"]
    if "visibility" in data:
        repo.meta["private"] = data["visibility"] == "private"
    if "private" in data:
        repo.meta["private"] = bool(data["private"])
    req.state.storage.save_meta(repo)
    return Response.json({"success": True})
