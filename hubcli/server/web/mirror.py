"""The pages of a mirror (``hubcli serve --upstream`` / ``--from-cache``): what the mirror holds
(its stored commits and repo infos, and the shared cache's repos), read through the mirror's own
access rules exactly as an API client is (``MirrorCore.pin``/``authorize``: the access file for
users of this mirror, ``--forward-token`` for clients' own upstream tokens), plus an "upstream
search" tab that proxies the upstream's listing through the mirror, kept per identity as the
API's listing is.

A browser's identity is its session: a user of this mirror (signed in with its mirror token), or
with ``--forward-token`` a client's own upstream token, checked against the upstream's
``whoami-v2`` at sign-in and then held in the server's memory for the session (it is sent
upstream for that session's reads, as an API client's would be, and never written anywhere).
"""

from __future__ import annotations

import contextlib
import json
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from hubcli.server.mirror import validate
from hubcli.server.mirror.access import ANONYMOUS, Identity
from hubcli.server.mirror.core import MirrorCore, prefix_of
from hubcli.server.mirror.fill import DirectRange, FillFailed, Source
from hubcli.server.mirror.upstream import ProtocolError, UpstreamAnswer, UpstreamError
from hubcli.server.records import Commit, Entry
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.web import session
from hubcli.server.web.backend import RepoRow, RepoView

SEARCH_LIMIT = 30
FILL_WAIT = 60.0  # seconds a page waits for a small file's fill


@dataclass
class _Handle:
    who: Identity
    sha: str  # main, pinned
    info: dict[str, Any] = field(default_factory=dict)
    last: Commit | None = None  # the commit the page read last (files are read from it)


def identity(req: Request, core: MirrorCore) -> Identity:
    """Who a browser (or a client) is: its ``Authorization`` header when it sends one, else its
    web session (a user of this mirror, or a ``--forward-token`` session's upstream token)."""
    if req.headers.get("Authorization"):
        return core.identity(req.token)
    sess = session.current_session(req)
    if sess is None:
        return ANONYMOUS
    if sess.token is not None:
        return Identity(token=sess.token) if core.config.forward_token else ANONYMOUS
    if sess.user in core.state.tokens.values():
        return Identity(user=sess.user)
    return ANONYMOUS


class MirrorBackend:
    label = "mirror"

    def __init__(self, core: MirrorCore) -> None:
        self.core = core
        self._lock = threading.Lock()
        self._commits: dict[tuple[str, str, str], Commit] = {}

    @property
    def can_sign_in(self) -> bool:
        return bool(self.core.state.tokens) or self.core.config.forward_token

    @property
    def has_upstream(self) -> bool:
        return self.core.has_upstream

    # ------------------------------------------------------------------ sessions
    def sign_in(self, req: Request, token: str) -> tuple[str, str | None] | None:
        if not token:
            return None
        who = self.core.identity(token)
        if who.user is not None:
            return who.user, None
        if who.token is None or not self.core.has_upstream:
            return None
        try:  # a client's own upstream token: the upstream says whose it is
            value, _, _ = self.core.client.get_json(
                "/api/whoami-v2", lambda v, up: _whoami(v), as_token=token
            )
        except UpstreamAnswer:
            return None
        except (UpstreamError, ProtocolError):
            raise ApiError(503, "The upstream hub cannot check this token now: retry") from None
        return f"{value} (upstream)", token

    # ------------------------------------------------------------------ what it holds
    def _held(self, repo_type: str) -> dict[str, str | None]:
        """repo id -> a stored commit of it (main's pin when known), for every repo the mirror
        holds a commit of, and every repo of the shared cache."""
        core = self.core
        out: dict[str, str | None] = {}
        base = core.dir / "commits" / repo_type
        with contextlib.suppress(OSError):
            for ns in base.iterdir():
                for name in ns.iterdir():
                    files = sorted(
                        name.glob("*.info.json"), key=lambda p: p.stat().st_mtime, reverse=True
                    )
                    if files:
                        out[f"{ns.name}/{name.name}"] = files[0].name.split(".", 1)[0]
        with core._lock:
            pins = dict(core.pins)
        for repo_id in out:
            held = pins.get(f"{repo_type}/{repo_id}@main")
            if held is not None and core._info_file(repo_type, repo_id, held[0]).exists():
                out[repo_id] = held[0]
        if core.share is not None:
            for repo_id in core.share.repos(repo_type):
                out.setdefault(repo_id, core.share.resolve(repo_type, repo_id, "main"))
        return out

    def _stored_info(self, repo_type: str, repo_id: str, sha: str | None) -> dict[str, Any]:
        if sha is None:
            return {}
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(
                self.core.place.read_doc(self.core._info_file(repo_type, repo_id, sha)) or b""
            )
            if isinstance(info, dict):
                return info
        return {}

    def _may_see(self, who: Identity, repo_type: str, repo_id: str, sha: str | None) -> bool:
        if sha is None:
            return False
        try:
            self.core.authorize(who, repo_type, repo_id, sha)
        except ApiError:
            return False
        return True

    def list_repos(self, req: Request, repo_type: str) -> list[RepoRow]:
        who = identity(req, self.core)
        rows = []
        for repo_id, sha in sorted(self._held(repo_type).items()):
            if not self._may_see(who, repo_type, repo_id, sha):
                continue
            rows.append(_row(repo_type, repo_id, self._stored_info(repo_type, repo_id, sha)))
        return rows

    def upstream_search(self, req: Request, repo_type: str, search: str) -> list[RepoRow]:
        """The upstream's listing through the mirror: the same cache entry (per identity) and the
        same filtering of private rows as the API's ``/api/models?search=...``."""
        core = self.core
        if not core.has_upstream:
            return []
        who = identity(req, core)
        params = {"search": search} if search else {}
        qs = urlencode({**params, "limit": str(SEARCH_LIMIT)})
        value, _, _ = core.brief_json(
            f"list|{who.key}|{repo_type}?{qs}",
            core.config.listing_ttl,
            f"/api/{repo_type}s?{qs}",
            lambda v, up: validate.listing_page(v),
            who.token,
        )
        rows = []
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            repo_id = item["id"]
            if (
                who.token is None
                and item.get("private")
                and not core.rules.allows(who.user, repo_type, repo_id)
            ):
                continue
            rows.append(_row(repo_type, repo_id, item))
        return rows

    # ------------------------------------------------------------------ one repo
    def repo(self, req: Request, repo_type: str, repo_id: str) -> RepoView:
        core = self.core
        who = identity(req, core)
        pinned = core.pin(who, repo_type, repo_id, "main")  # checks who may see it
        private, gated = core.flags(repo_type, repo_id, pinned.sha)
        info = self._stored_info(repo_type, repo_id, pinned.sha)
        return RepoView(repo_type, repo_id, private, gated, {}, _Handle(who, pinned.sha, info))

    def refs(self, req: Request, view: RepoView) -> dict[str, dict[str, str]]:
        core, h = self.core, view.handle
        out: dict[str, dict[str, str]] = {"heads": {"main": h.sha}, "tags": {}}
        if not core.has_upstream:
            shared = core.share.refs(view.type, view.id) if core.share else {}
            out["heads"].update({n: s for n, s in shared.items() if not n.startswith("refs/")})
            return out
        try:
            value, _, _ = core.brief_json(  # the API's refs cache entry
                f"refs|{view.type}/{view.id}?",
                core.config.revision_ttl,
                f"/api/{view.type}s/{view.id}/refs",
                lambda v, up: validate.refs(v),
                h.who.token,
            )
        except ApiError:
            return out
        for kind, key in (("branches", "heads"), ("tags", "tags")):
            for ref in value.get(kind) or []:
                if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                    out[key][ref["name"]] = str(ref.get("targetCommit") or "")
        return out

    def commit(self, req: Request, view: RepoView, rev: str) -> Commit:
        core, h = self.core, view.handle
        pinned = core.pin(h.who, view.type, view.id, rev)
        key = (view.type, view.id, pinned.sha)
        with self._lock:
            c = self._commits.get(key)
        if c is None:
            m = core.manifest(view.type, view.id, pinned.sha, h.who)
            info = self._stored_info(view.type, view.id, pinned.sha) or h.info
            c = Commit(
                pinned.sha,
                [],
                "",
                "",
                "",
                str(info.get("lastModified") or ""),
                m.commit.tree,
                _dirs=m.commit.dirs(),
            )
            with self._lock:
                if len(self._commits) > 64:
                    self._commits.clear()
                self._commits[key] = c
        h.last = c
        return c

    def may_read_files(self, req: Request, view: RepoView) -> bool:
        return True  # ``repo`` already checked the whole repo, gated or not (as the API does)

    def read(self, req: Request, view: RepoView, entry: Entry, cap: int) -> bytes:
        """The file's first ``cap`` bytes: stored, in the shared cache, filled (small files: the
        mirror keeps them, as for a client's download) or by a Range request (large ones)."""
        core, h = self.core, view.handle
        with contextlib.suppress(OSError):
            if core.store.blob_size(entry) == entry.size:
                return b"".join(core.store.open_blob(entry, 0, min(cap, entry.size)))
        shared = core.shared_blob(view.type, view.id, entry)
        if shared is not None and core.share is not None and core.share.state(shared) is not False:
            with open(shared, "rb") as fh:
                return fh.read(cap)
        path = _path_of(h.last, entry)
        if not core.has_upstream or path is None or h.last is None:
            raise ApiError(404, "This file is not in the mirror")
        source = Source(
            f"/{prefix_of(view.type)}{view.id}/resolve/{h.last.id}/{quote(path)}", h.who.token
        )
        try:
            if entry.size <= core.config.stream_threshold:
                fill = core.fills.get(entry, source)
                if fill is not None:
                    fill.wait_done(min(core.config.fill_wait, FILL_WAIT))
                return b"".join(core.store.open_blob(entry, 0, min(cap, entry.size)))
            direct = DirectRange(core.client, source, entry.size, 0, min(cap, entry.size) - 1)
            if direct.open():
                return b"".join(direct)
        except (FillFailed, OSError):
            pass
        raise ApiError(503, "The upstream hub did not send this file: retry later")

    def history(self, req: Request, view: RepoView, sha: str, limit: int) -> list[Commit]:
        core, h = self.core, view.handle
        if not core.has_upstream:
            return [Commit(sha, [], "", "", "", "", {})]
        out: list[Commit] = []
        qs = ""
        while len(out) < limit:
            target = f"/api/{view.type}s/{view.id}/commits/{sha}" + (f"?{qs}" if qs else "")
            value, link = core.cached_json(  # the API's cache entry for the same page
                f"commits|{view.type}/{view.id}@{sha}?{qs}",
                target,
                lambda v, up: validate.commits_page(v),
                as_token=h.who.token,
            )
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    out.append(_commit_of(item))
            if not link or not value:
                break
            qs = urlsplit(link).query
        return out[:limit]

    def last_commit(self, req: Request, view: RepoView, commit: Commit, path: str) -> Commit | None:
        return None  # the mirror keeps no history of its own: the commits tab asks the upstream


def _whoami(value: Any) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ProtocolError("whoami-v2 without a name")
    return str(value["name"])[:100]


def _row(repo_type: str, repo_id: str, info: dict[str, Any]) -> RepoRow:
    def num(k: str) -> int:
        v = info.get(k)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    tags = info.get("tags")
    return RepoRow(
        repo_type,
        repo_id,
        bool(info.get("private")),
        bool(info.get("gated")),
        num("downloads"),
        num("likes"),
        str(info.get("lastModified") or ""),
        [str(t) for t in tags] if isinstance(tags, list) else [],
    )


def _commit_of(item: dict[str, Any]) -> Commit:
    authors = item.get("authors") or []
    author = ""
    if authors and isinstance(authors[0], dict):
        author = str(authors[0].get("user") or authors[0].get("name") or "")
    return Commit(
        item["id"],
        [],
        author,
        str(item.get("title") or ""),
        str(item.get("message") or ""),
        str(item.get("date") or ""),
        {},
    )


def _path_of(commit: Commit | None, entry: Entry) -> str | None:
    if commit is None:
        return None
    for path, e in commit.tree.items():
        if e is entry:
            return path
    return None


# ---------------------------------------------------------------------- the mirror router's hook
_BACKENDS: weakref.WeakKeyDictionary[MirrorCore, MirrorBackend] = weakref.WeakKeyDictionary()
_BACKENDS_LOCK = threading.Lock()


def backend(core: MirrorCore) -> MirrorBackend:
    with _BACKENDS_LOCK:
        b = _BACKENDS.get(core)
        if b is None:
            b = _BACKENDS[core] = MirrorBackend(core)
        return b


def page(req: Request, core: MirrorCore) -> Response | None:
    """The page for a request no route of the mirror took, or None (the mirror's 404/405)."""
    from hubcli.server.web.routes import dispatch

    return dispatch(req, backend(core))
