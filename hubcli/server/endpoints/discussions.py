"""Just enough of the discussions API to open and inspect pull requests."""

from __future__ import annotations

from hubcli.server.access import get_commit, get_repo, writable_repo
from hubcli.server.endpoints.links import repo_url
from hubcli.server.ids import now_iso
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response


def discussions(req: Request, repo_type: str, repo_id: str, args: list[str]) -> Response:
    """Just enough of the discussions API to open and inspect pull requests."""
    if req.method == "POST" and not args:
        repo, user = writable_repo(req, repo_type, repo_id)
        data = req.json_body(req.state.limits.small_json) or {}
        if not isinstance(data, dict) or not data.get("pullRequest"):
            raise ApiError(400, "Only pull requests are supported by this server")
        st = req.state.storage
        head = get_commit(req, repo, "main").id
        info = {
            "title": str(data.get("title") or ""),
            "base": "main",
            "author": user,
            "createdAt": now_iso(),
        }
        num = st.open_pr(repo, info, head)  # one CAS update: unique across replicas
        return Response.json({"num": num, "url": f"{repo_url(req, repo)}/discussions/{num}"})
    if req.method == "GET" and len(args) == 1 and args[0].isdigit():
        repo = get_repo(req, repo_type, repo_id)
        info = repo.meta.get("prs", {}).get(args[0])
        if info is None:
            raise ApiError(404, "Discussion not found")
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
    raise ApiError(404, "Not found")
