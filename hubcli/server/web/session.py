"""Browser sessions and the security headers of every page.

Signing in exchanges a token (typed into a form, sent by POST) for a server-side session: the
browser holds only a random session id, in an ``HttpOnly; SameSite=Strict`` cookie; the server
keeps the sha256 of that id, the user name and the session's CSRF token, never the token itself.
POSTs carry a CSRF token in a form field that must match the session's (or, before sign-in, a
random ``HttpOnly`` pre-session cookie), and an ``Origin`` header, when sent, must be this host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field

from hubcli.server.request import Request
from hubcli.server.state import HubState

SESSION_COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
SESSION_TTL = 12 * 3600
MAX_SESSIONS = 10_000


@dataclass
class Session:
    user: str
    csrf: str
    expires: float
    # a mirror's --forward-token session: the client's own upstream token, held in memory only
    # (sent upstream for this session's reads, never written anywhere or shown)
    token: str | None = field(default=None, repr=False)


class Sessions:
    """The open sessions of one server, keyed by the sha256 of their id (in memory: a restart
    signs everybody out)."""

    def __init__(self, ttl: float = SESSION_TTL) -> None:
        self.ttl = ttl
        self._by_hash: dict[str, Session] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()

    def create(self, user: str, token: str | None = None) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        sess = Session(user, secrets.token_urlsafe(24), time.time() + self.ttl, token)
        with self._lock:
            if len(self._by_hash) >= MAX_SESSIONS:
                now = time.time()
                for k in [k for k, s in self._by_hash.items() if s.expires < now]:
                    del self._by_hash[k]
                if len(self._by_hash) >= MAX_SESSIONS:  # the oldest goes
                    del self._by_hash[next(iter(self._by_hash))]
            self._by_hash[self._key(sid)] = sess
        return sid, sess

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        key = self._key(sid)
        with self._lock:
            sess = self._by_hash.get(key)
            if sess is not None and sess.expires < time.time():
                del self._by_hash[key]
                return None
            return sess

    def end(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._by_hash.pop(self._key(sid), None)


_SESSIONS: weakref.WeakKeyDictionary[HubState, Sessions] = weakref.WeakKeyDictionary()
_SESSIONS_LOCK = threading.Lock()


def sessions(state: HubState) -> Sessions:
    with _SESSIONS_LOCK:
        s = _SESSIONS.get(state)
        if s is None:
            s = _SESSIONS[state] = Sessions()
        return s


def cookies(req: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for header in req.headers.get_all("Cookie") or []:
        for part in header.split(";"):
            name, eq, value = part.strip().partition("=")
            if eq and name and name not in out:
                out[name] = value.strip().strip('"')
    return out


def current_session(req: Request) -> Session | None:
    return sessions(req.state).get(cookies(req).get(SESSION_COOKIE))


def attach_session_user(req: Request) -> None:
    """Let the session cookie stand for the user of a read (GET/HEAD) without an
    ``Authorization`` header: the pages' own reads and browser downloads (``resolve``).
    Writes always need a token, so a cookie never authorises a change."""
    if req.method not in ("GET", "HEAD") or req.headers.get("Authorization"):
        return
    sess = current_session(req)
    if sess is not None:
        req.authenticate_as(sess.user)


def cookie(name: str, value: str, max_age: int, secure: bool) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def is_https(req: Request) -> bool:
    """Whether the browser reached us over TLS: this server's own (``--tls-cert``) or, as the
    proxy in front says, the proxy's (the cookie then gets ``Secure``; a client lying about it
    only loses its own cookie)."""
    if req.state.scheme == "https":
        return True
    return (req.headers.get("X-Forwarded-Proto") or "").lower() == "https"


def same_origin(req: Request) -> bool:
    """False when the browser says the POST comes from another origin (``Origin`` or, failing
    that, ``Sec-Fetch-Site``)."""
    origin = req.headers.get("Origin")
    host = req.headers.get("Host") or ""
    if origin is not None:
        if origin == "null":
            return False
        return origin.split("://", 1)[-1] == host
    site = req.headers.get("Sec-Fetch-Site")
    return site in (None, "same-origin", "none")


def csrf_ok(req: Request, form_value: str | None, expected: str | None) -> bool:
    if not form_value or not expected or not same_origin(req):
        return False
    return hmac.compare_digest(form_value.encode(), expected.encode())


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def page_headers(nonce: str) -> dict[str, str]:
    """The headers every HTML page carries."""
    csp = (
        "default-src 'none'; "
        f"script-src 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self'; font-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Vary": "Cookie",
    }


# What file answers (``resolve``) carry, so a repo's .html or .svg file opened in the browser
# runs as an opaque origin with no script: it cannot use the visitor's session.
FILE_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'self'",
    "X-Content-Type-Options": "nosniff",
}
