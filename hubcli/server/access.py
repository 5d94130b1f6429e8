"""Who may see and do what: the access checks every endpoint goes through.

Repos (exists and readable: private repos for their owner only, disabled ones for nobody), commits,
gated downloads, users and owners for writes, and LFS objects: which ones a repo may serve, which
ones a commit may name, which ones an uploader proved they hold, and the signed CDN URLs that carry
a download capability to the CDN listener. An object of another repo gets the same answer as an
unknown one (no existence oracle).
"""

from __future__ import annotations

from hubcli.server.ids import validate_repo_id
from hubcli.server.records import Commit, Repo
from hubcli.server.request import Request
from hubcli.server.response import ApiError


# ---------------------------------------------------------------------- repos and commits
def not_found(req: Request, repo_type: str, repo_id: str) -> ApiError:
    """The answer for a repo the caller may not see: the same as for a missing one."""
    msg = f"Repository Not Found for url: {req.origin()}{req.raw_path}."
    status = 401 if req.user is None else 404
    return ApiError(status, msg, "RepoNotFound")


def get_repo(req: Request, repo_type: str, repo_id: str) -> Repo:
    """Find a repo the caller may read (private repos: owner only)."""
    validate_repo_id(repo_id)
    repo = req.state.storage.get_repo(repo_type, repo_id)
    user = req.user
    if repo is None or (repo.meta.get("private") and not req.state.is_owner(user, repo.namespace)):
        raise not_found(req, repo_type, repo_id)
    if repo.meta.get("disabled"):
        raise ApiError(403, "Access to this resource is disabled.")
    return repo


def check_gated(req: Request, repo: Repo) -> None:
    """401/403 ``GatedRepo`` unless the caller owns ``repo`` or was granted access to it."""
    gated = repo.meta.get("gated")
    if not gated:
        return
    user = req.user
    if req.state.is_owner(user, repo.namespace) or user in repo.meta.get("granted", []):
        return
    url = f"{req.origin()}/{repo.prefix}{repo.id}"
    if user is None:
        msg = f"Access to {repo.type} {repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in."  # noqa: E501
        raise ApiError(401, msg, "GatedRepo")
    msg = f"Access to {repo.type} {repo.id} is restricted and you are not in the authorized list. Visit {url} to ask for access."  # noqa: E501
    raise ApiError(403, msg, "GatedRepo")


def get_commit(req: Request, repo: Repo, rev: str) -> Commit:
    """The commit ``rev`` (branch, tag, PR ref or sha) names in ``repo``; 404 when none."""
    sha = req.state.storage.resolve_rev(repo, rev)
    commit = req.state.storage.get_commit(repo, sha) if sha else None
    if commit is None:
        raise ApiError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
    return commit


# ---------------------------------------------------------------------- users
def require_user(req: Request) -> str:
    """The caller's user name; 401 without a token."""
    user = req.user
    if user is None:
        raise ApiError(401, "You must be authenticated to perform this action (no token).")
    return user


def require_owner(req: Request, namespace: str) -> str:
    """The caller's user name; 403 unless they may write to ``namespace``."""
    user = require_user(req)
    if not req.state.is_owner(user, namespace):
        raise ApiError(403, f"You don't have the rights to write to the namespace {namespace}")
    return user


def writable_repo(req: Request, repo_type: str, repo_id: str) -> tuple[Repo, str]:
    """(repo, user) for a write: a user who may read the repo and owns its namespace."""
    require_user(req)
    repo = get_repo(req, repo_type, repo_id)
    return repo, require_owner(req, repo.namespace)


# ---------------------------------------------------------------------- LFS objects
def readable_lfs_size(req: Request, repo: Repo, sha256: str) -> int | None:
    """The size of LFS object ``sha256`` if it is stored and a commit of ``repo`` names it (what
    a download through ``repo`` may fetch), else None."""
    return req.state.storage.repo_lfs_size(repo, sha256)


def committable_lfs_size(req: Request, repo: Repo, sha256: str, user: str | None) -> int | None:
    """The size of LFS object ``sha256`` if a new commit of ``user`` to ``repo`` may name it: it
    is stored and already in the repo, or ``user`` uploaded its content; else None."""
    return req.state.storage.repo_lfs_size(repo, sha256, user)


def require_uploaded(req: Request, uploader: str | None, sha256: str, size: object) -> None:
    """404 unless ``uploader`` sent the content of LFS object ``sha256`` (``size`` bytes) and it
    is stored (not merely stored for someone else)."""
    st = req.state.storage
    granted = st.granted_lfs_size(uploader, sha256)
    if granted is None or granted != size or not st.has_lfs(sha256, granted):
        raise ApiError(404, f"Object {sha256} not found or size mismatch")


def cdn_href(req: Request, repo: Repo, sha256: str) -> str:
    """A signed CDN URL for LFS object ``sha256`` of ``repo``: valid for that repo and object
    only, until it expires. Call it only after checking the caller may read the object."""
    exp, sig = req.state.signer.sign(repo.key, sha256)
    return f"{req.cdn_origin()}/_cdn/lfs/{repo.key}/{sha256}?exp={exp}&sig={sig}"


def check_cdn_signature(req: Request, key: str, sha256: str) -> None:
    """403 unless the request carries a valid, unexpired signature from ``cdn_href`` for the repo
    named ``key`` (``{type}/{namespace}/{name}``) and object ``sha256``."""
    if not req.state.signer.check(key, sha256, req.q("exp"), req.q("sig")):
        raise ApiError(403, "Invalid, expired or missing signature")
