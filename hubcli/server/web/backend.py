"""Where the pages read repos from: the own hub's storage (``HubBackend``), through the same
access checks as the API (private repos for their owner only, gated files for granted users)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hubcli.server.access import check_gated, get_commit, get_repo
from hubcli.server.records import Commit, Entry, Repo
from hubcli.server.request import Request
from hubcli.server.response import ApiError
from hubcli.server.views import card_data, derive_tags, last_commit_for


@dataclass
class RepoRow:
    type: str
    id: str
    private: bool = False
    gated: bool = False
    downloads: int = 0
    likes: int = 0
    last_modified: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass
class RepoView:
    type: str
    id: str
    private: bool = False
    gated: bool = False
    prs: dict[str, dict[str, Any]] = field(default_factory=dict)
    handle: Any = None  # the backend's own object

    @property
    def prefix(self) -> str:
        return "" if self.type == "model" else f"{self.type}s/"

    @property
    def base(self) -> str:
        """The repo's page URL path: ``/org/name``, ``/datasets/org/name``."""
        return f"/{self.prefix}{self.id}"


class Backend(Protocol):
    @property
    def can_sign_in(self) -> bool: ...
    @property
    def label(self) -> str: ...
    @property
    def has_upstream(self) -> bool:
        """Whether ``/`` has an "upstream search" tab (``upstream_search``)."""
        ...

    def sign_in(self, req: Request, token: str) -> tuple[str, str | None] | None:
        """(the name shown, a token the session must keep to act for the user, or None), or
        None when the token is not valid here."""
        ...

    def upstream_search(self, req: Request, repo_type: str, search: str) -> list[RepoRow]: ...

    def list_repos(self, req: Request, repo_type: str) -> list[RepoRow]: ...
    def repo(self, req: Request, repo_type: str, repo_id: str) -> RepoView: ...
    def refs(self, req: Request, view: RepoView) -> dict[str, dict[str, str]]: ...
    def commit(self, req: Request, view: RepoView, rev: str) -> Commit: ...
    def read(self, req: Request, view: RepoView, entry: Entry, cap: int) -> bytes: ...
    def may_read_files(self, req: Request, view: RepoView) -> bool: ...
    def history(self, req: Request, view: RepoView, sha: str, limit: int) -> list[Commit]: ...
    def last_commit(
        self, req: Request, view: RepoView, commit: Commit, path: str
    ) -> Commit | None: ...


class HubBackend:
    """The own hub: ``Storage`` behind the API's access checks."""

    can_sign_in = True
    label = "hub"
    has_upstream = False

    def sign_in(self, req: Request, token: str) -> tuple[str, str | None] | None:
        user = req.state.tokens.get(token)
        return None if user is None else (user, None)

    def upstream_search(self, req: Request, repo_type: str, search: str) -> list[RepoRow]:
        return []

    def list_repos(self, req: Request, repo_type: str) -> list[RepoRow]:
        st = req.state.storage
        user = req.user
        rows = []
        for repo in st.list_repos(repo_type):
            meta = repo.meta
            if meta.get("disabled"):
                continue
            if meta.get("private") and not req.state.is_owner(user, repo.namespace):
                continue
            head = repo.refs["heads"].get("main")
            commit = st.get_commit(repo, head) if head else None
            rows.append(
                RepoRow(
                    repo.type,
                    repo.id,
                    bool(meta.get("private")),
                    bool(meta.get("gated")),
                    int(meta.get("downloads", 0)),
                    int(meta.get("likes", 0)),
                    commit.date if commit else str(meta.get("createdAt") or ""),
                    derive_tags(repo, card_data(st, commit)),
                )
            )
        return rows

    def repo(self, req: Request, repo_type: str, repo_id: str) -> RepoView:
        repo = get_repo(req, repo_type, repo_id)
        return RepoView(
            repo.type,
            repo.id,
            bool(repo.meta.get("private")),
            bool(repo.meta.get("gated")),
            dict(repo.meta.get("prs") or {}),
            repo,
        )

    def refs(self, req: Request, view: RepoView) -> dict[str, dict[str, str]]:
        repo: Repo = view.handle
        return {k: dict(v) for k, v in repo.refs.items()}

    def commit(self, req: Request, view: RepoView, rev: str) -> Commit:
        return get_commit(req, view.handle, rev)

    def may_read_files(self, req: Request, view: RepoView) -> bool:
        try:
            check_gated(req, view.handle)
        except ApiError:
            return False
        return True

    def read(self, req: Request, view: RepoView, entry: Entry, cap: int) -> bytes:
        st = req.state.storage
        try:
            with open(st.blob_file(entry), "rb") as fh:
                return fh.read(cap)
        except (OSError, AttributeError):
            return st.read_blob(entry)[:cap]

    def history(self, req: Request, view: RepoView, sha: str, limit: int) -> list[Commit]:
        return req.state.storage.history(view.handle, sha, limit)

    def last_commit(self, req: Request, view: RepoView, commit: Commit, path: str) -> Commit | None:
        return last_commit_for(req.state.storage, view.handle, commit, path)
