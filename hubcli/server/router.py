"""URL routing: the one module that knows every endpoint. It maps a request's raw path segments
and method to an endpoint function; the HTTP layer is handed ``route`` and never imports this.

Repo ids and paths are taken from segments split *before* percent-decoding, so an encoded ``/``
never moves a segment boundary; ``..``, ``.``, NUL and backslashes are refused in every segment.
"""

from __future__ import annotations

from hubcli.server.endpoints import (
    account,
    commit,
    discussions,
    files,
    lfs_batch,
    lfs_upload,
    listing,
    repo_admin,
    repo_read,
)
from hubcli.server.ids import validate_repo_id
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIXES = {"datasets": "dataset", "spaces": "space"}


def route(req: Request) -> Response:
    """Answer one request (or raise ``ApiError``): CDN blobs, LFS upload sessions, ``/api``,
    file downloads (``resolve``) and the LFS batch API."""
    s = req.segments
    m = req.method
    for seg in s:
        if "\0" in seg or "\\" in seg or seg in ("..", "."):
            raise ApiError(400, "Invalid path")
    if s[:2] == ["_cdn", "lfs"] and len(s) == 6 and m in ("GET", "HEAD"):
        return files.cdn_get(req, s[2], f"{s[3]}/{s[4]}", s[5])
    if s and s[0] == "_lfs":
        return upload_route(req, s[1:])
    if req.is_cdn:
        raise ApiError(404, "Not found")
    if s and s[0] == "api":
        return api_route(req, s[1:])
    # /{prefix}{ns}/{name}/resolve/... and /{prefix}{ns}/{name}.git/info/lfs/objects/batch
    repo_type = "model"
    rest = s
    if s and s[0] in PREFIXES and len(s) >= 4:
        repo_type, rest = PREFIXES[s[0]], s[1:]
    if len(rest) >= 4 and rest[2] == "resolve" and m in ("GET", "HEAD"):
        rev, path = split_rev(rest[3:])
        web_session(req)
        return web_file(files.resolve(req, repo_type, f"{rest[0]}/{rest[1]}", rev, path))
    if (
        len(rest) == 6
        and rest[1].endswith(".git")
        and rest[2:] == ["info", "lfs", "objects", "batch"]
    ):
        if m != "POST":
            raise ApiError(405, "Method not allowed")
        return lfs_batch.batch(req, repo_type, f"{rest[0]}/{rest[1][:-4]}")
    page = web_page(req)
    if page is not None:
        return page
    raise ApiError(404, "Not found")


def api_route(req: Request, s: list[str]) -> Response:
    """``/api/...``: account endpoints, repo admin, listings and one repo's read endpoints."""
    m = req.method
    if s == ["agent-harnesses"]:
        return account.agent_harnesses(req)
    if s in (["whoami-v2"], ["whoami"]):
        return account.whoami(req)
    if s == ["validate-yaml"] and m == "POST":
        return account.validate_yaml(req)
    if len(s) == 2 and s[0] == "repos" and m in ("POST", "DELETE"):
        return repo_admin.repos_admin(req, s[1])
    if not s or s[0] not in TYPES:
        raise ApiError(404, "Not found")
    repo_type = TYPES[s[0]]
    if len(s) == 1 and m == "GET":
        return listing.listing(req, repo_type)
    if len(s) < 3:
        raise ApiError(404, "Not found")
    repo_id = f"{s[1]}/{s[2]}"
    validate_repo_id(repo_id)
    action, args = (s[3], s[4:]) if len(s) > 3 else ("", [])
    if action == "" and m == "GET":
        return repo_read.repo_info(req, repo_type, repo_id, None)
    if action == "revision" and m == "GET" and args:
        return repo_read.repo_info(req, repo_type, repo_id, "/".join(args))
    if action == "tree" and m == "GET" and args:
        rev, path = split_rev(args)
        return repo_read.tree(req, repo_type, repo_id, rev, path)
    if action == "paths-info" and m == "POST" and args:
        return repo_read.paths_info(req, repo_type, repo_id, "/".join(args))
    if action == "refs" and m == "GET":
        return repo_read.refs(req, repo_type, repo_id)
    if action == "commits" and m == "GET" and args:
        return repo_read.commits(req, repo_type, repo_id, "/".join(args))
    return repo_write_route(req, repo_type, repo_id, action, args)


def repo_write_route(
    req: Request, repo_type: str, repo_id: str, action: str, args: list[str]
) -> Response:
    """``/api/{types}/{ns}/{name}/{action}/...`` for writes and discussions."""
    m = req.method
    if action == "preupload" and m == "POST" and args:
        return commit.preupload(req, repo_type, repo_id, "/".join(args))
    if action == "commit" and m == "POST" and args:
        return commit.commit(req, repo_type, repo_id, "/".join(args))
    if action == "branch" and m in ("POST", "DELETE") and args:
        return repo_admin.branch(req, repo_type, repo_id, "/".join(args))
    if action == "tag" and m in ("POST", "DELETE") and args:
        return repo_admin.tag(req, repo_type, repo_id, "/".join(args))
    if action == "settings" and m == "PUT":
        return repo_admin.settings(req, repo_type, repo_id)
    if action == "discussions":
        return discussions.discussions(req, repo_type, repo_id, args)
    raise ApiError(404, "Not found")


def upload_route(req: Request, s: list[str]) -> Response:
    """``/_lfs/{upload,part,complete,verify}/...``: the upload session URLs."""
    m = req.method
    if len(s) == 2 and s[0] == "upload" and m == "PUT":
        return lfs_upload.put_basic(req, s[1])
    if len(s) == 3 and s[0] == "part" and m == "PUT" and s[2].isdigit():
        return lfs_upload.put_part(req, s[1], int(s[2]))
    if len(s) == 2 and s[0] == "complete" and m == "POST":
        return lfs_upload.complete(req, s[1])
    if len(s) == 2 and s[0] == "verify" and m == "POST":
        return lfs_upload.verify(req, s[1])
    raise ApiError(404, "Not found")


def split_rev(args: list[str]) -> tuple[str, str]:
    """Split ``rev/path...`` segments; an unencoded ``refs/pr/N`` revision spans 3 segments."""
    if len(args) >= 3 and args[0] == "refs" and args[1] in ("pr", "convert", "heads", "tags"):
        return "/".join(args[:3]), "/".join(args[3:])
    return args[0], "/".join(args[1:])


# ---------------------------------------------------------------------- web pages
# The pages for browsers (``hubcli.server.web``, imported on first use) answer only what no API
# route above took; a signed-in browser's session cookie authorises its downloads (GET/HEAD of
# ``resolve``), and file answers carry a sandboxing CSP so a repo's HTML file cannot use it.


def web_page(req: Request) -> Response | None:
    from hubcli.server.web.backend import HubBackend
    from hubcli.server.web.routes import dispatch

    return dispatch(req, HubBackend())


def web_session(req: Request) -> None:
    from hubcli.server.web.session import attach_session_user

    attach_session_user(req)


def web_file(resp: Response) -> Response:
    from hubcli.server.web.session import FILE_HEADERS

    for k, v in FILE_HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp
