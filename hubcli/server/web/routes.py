"""Which paths are pages, and the answer for each. ``dispatch`` is called by a router only for a
request no API route took, and claims only GET/HEAD of page paths and POST of ``/login`` and
``/logout``; anything else is left to the router (``None``: the API's own 404/405).

Browsers are told from API clients by the path alone (never the User-Agent): the API lives under
``/api``, ``/_cdn``, ``/_lfs``, ``.../resolve/...`` and ``....git/...``, which no page uses.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs

from hubcli.server.ids import StorageError, validate_repo_id
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.router import split_rev
from hubcli.server.web import pages, session, static
from hubcli.server.web.backend import Backend
from hubcli.server.web.html import Html, esc, layout
from hubcli.server.web.reserved import is_reserved

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
REPO_PAGES = ("tree", "blob", "commits", "discussions")


def is_page_path(s: list[str]) -> bool:
    """Whether the segments name a page (never an API route: see the module doc)."""
    if not s or s == [""]:
        return True
    if s[0] in ("api", "_cdn", "_lfs") or any(seg.endswith(".git") for seg in s[:3]):
        return False
    if s[0] in TYPES:
        rest = s[1:]
        if len(rest) <= 1:
            return True  # /models, /datasets/<owner>
    elif s[0] in ("static", "login", "logout"):
        return True
    else:
        rest = s
    if is_reserved(rest[0]):
        return False
    if len(rest) <= 2:
        return True
    return rest[2] in REPO_PAGES


def dispatch(req: Request, backend: Backend) -> Response | None:
    s = [seg for seg in req.segments] if req.segments != [""] else []
    if req.method not in ("GET", "HEAD", "POST") or not is_page_path(s):
        return None
    if req.method == "POST" and s not in (["login"], ["logout"]):
        return None
    if s[:1] == ["static"]:
        if len(s) == 2 and req.method != "POST":
            return static.serve(s[1]) or _error_page(req, backend, 404, "No such file")
        return None
    session.attach_session_user(req)
    try:
        if s == ["login"]:
            return login(req, backend)
        if s == ["logout"]:
            return logout(req, backend)
        page = _page(req, backend, s)
    except (ApiError, StorageError) as e:
        status = 404 if e.status == 401 else e.status  # a hidden repo looks like a missing one
        return _error_page(req, backend, status, e.message)
    return _html(req, backend, page)


def _page(req: Request, b: Backend, s: list[str]) -> pages.Page:
    if not s:
        return pages.home(req, b)
    rtype = "model"
    if s[0] in TYPES:
        if len(s) == 1:
            return pages.listing(req, b, TYPES[s[0]])
        if len(s) == 2:
            return pages.listing(req, b, TYPES[s[0]], author=s[1])
        rtype, s = TYPES[s[0]], s[1:]
        if rtype == "model":
            raise ApiError(404, "Models live at /<owner>/<name>")
    if len(s) == 1:
        return pages.owner(req, b, s[0])
    repo_id = f"{s[0]}/{s[1]}"
    validate_repo_id(repo_id)
    view = b.repo(req, rtype, repo_id)
    if len(s) == 2:
        return pages.repo_card(req, b, view)
    action, args = s[2], s[3:]
    if action == "discussions" and not args:
        return pages.discussions(req, b, view)
    if action == "commits":
        return pages.commits(req, b, view, "/".join(args) or "main")
    if action in ("tree", "blob"):
        rev, path = split_rev(args) if args else ("main", "")
        if action == "tree":
            return pages.tree(req, b, view, rev, path)
        return pages.blob(req, b, view, rev, path)
    raise ApiError(404, "No such page")


def _html(
    req: Request, b: Backend, page: pages.Page, extra: dict[str, str] | None = None
) -> Response:
    nonce = session.new_nonce()
    sess = session.current_session(req)
    body = layout(
        page.title,
        page.body,
        nonce=nonce,
        user=sess.user if sess else None,
        csrf=sess.csrf if sess else None,
        can_sign_in=b.can_sign_in,
        search=page.search,
    )
    headers = session.page_headers(nonce)
    headers.update(extra or {})
    return Response(page.status, body, headers)


def _error_page(req: Request, b: Backend, status: int, message: str) -> Response:
    hint = ""
    if status == 404 and b.can_sign_in and session.current_session(req) is None:
        hint = '<p>If it is private, <a href="/login">sign in</a> first.</p>'
    body = Html(f'<h1>{status}</h1><p class="err">{esc(message)}</p>{hint}')
    return _html(req, b, pages.Page(f"{status}", body, status))


# ---------------------------------------------------------------------- sign in / out
def _next(value: str | None) -> str:
    """A local path to go to after signing in (anything else: ``/``)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(c in value for c in "\\\r\n\t\0") or len(value) > 2000:
        return "/"
    return value


def _form(req: Request) -> dict[str, str]:
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        return {}  # not a form of ours: no CSRF token, refused by the caller
    raw = req.body(16 << 10).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def login(req: Request, b: Backend) -> Response:
    jar = session.cookies(req)
    secure = session.is_https(req)
    if req.method != "POST":
        pre = jar.get(session.CSRF_COOKIE) or secrets.token_urlsafe(24)
        page = pages.login_form("", pre, _next(req.q("next")), b.can_sign_in)
        extra = {"Set-Cookie": session.cookie(session.CSRF_COOKIE, pre, 3600, secure)}
        return _html(req, b, page, extra)
    if not b.can_sign_in:
        return _error_page(req, b, 404, "This server has no users")
    form = _form(req)
    if not session.csrf_ok(req, form.get("csrf"), jar.get(session.CSRF_COOKIE)):
        return _error_page(req, b, 403, "The form expired or came from another site: reload it")
    found = b.sign_in(req, form.get("token", "").strip())
    if found is None:
        page = pages.login_form(
            "That token is not valid on this hub.",
            jar[session.CSRF_COOKIE],
            _next(form.get("next")),
            True,
        )
        return _html(req, b, page)
    sid, _ = session.sessions(req.state).create(*found)
    headers = {
        "Location": _next(form.get("next")),
        "Set-Cookie": session.cookie(session.SESSION_COOKIE, sid, session.SESSION_TTL, secure),
        "Cache-Control": "no-store",
    }
    return Response(303, b"", headers)


def logout(req: Request, b: Backend) -> Response:
    if req.method != "POST":
        return _error_page(req, b, 405, "Sign out with the button")
    sess = session.current_session(req)
    form = _form(req)
    if sess is None or not session.csrf_ok(req, form.get("csrf"), sess.csrf):
        return _error_page(req, b, 403, "The form expired or came from another site: reload it")
    session.sessions(req.state).end(session.cookies(req).get(session.SESSION_COOKIE))
    headers = {
        "Location": "/",
        "Set-Cookie": session.cookie(session.SESSION_COOKIE, "", 0, session.is_https(req)),
        "Cache-Control": "no-store",
    }
    return Response(303, b"", headers)
