"""Who may read a gated or private upstream repo through the mirror.

A public repo is served to everyone. A repo the upstream reports as private or gated is served to a
client only when

* the client is a user of this mirror (``--token``/``--token-file``) that the local access file
  (``--access-file``) lets read the repo, or
* ``--forward-token`` is on and the client's own token passed an upstream access check for the repo
  (a ``HEAD`` of one of its files at the pinned commit, made with that token; the answer is kept
  per (token, repo) for ``--revision-ttl`` seconds).

Content the mirror stored for one client is served to another only after that other's own check.

The access file, one statement a line (``#`` comments)::

    org research: alice bob              # an org and its members (users of this mirror)
    alice: alice/* datasets/alice/*      # a user and the repos it may read
    @research: research/* meta-llama/Llama-3.1-*
    *: acme/gated-but-team-wide          # every user of this mirror (not anonymous clients)

A repo pattern is ``ns/name`` for a model, ``datasets/ns/name`` or ``spaces/ns/name`` otherwise,
with ``*``, ``?`` and ``[...]`` wildcards (fnmatch, case-insensitive; ``*`` also matches ``/``).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from hubcli.server.response import ApiError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Identity:
    """Who asks: a user of this mirror, a client's own upstream token (``--forward-token``), or
    nobody (anonymous)."""

    user: str | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """A cache key for this identity (never the token itself)."""
        if self.user is not None:
            return f"user:{self.user}"
        if self.token is not None:
            return "token:" + hashlib.sha256(self.token.encode()).hexdigest()[:32]
        return "anonymous"


ANONYMOUS = Identity()


class AccessFileError(ValueError):
    """An access file that cannot be read (the message names the line)."""


def repo_key(repo_type: str, repo_id: str) -> str:
    """``org/name``, ``datasets/org/name``, ``spaces/org/name`` (lower case): what rules match."""
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return f"{prefix}{repo_id}".lower()


@dataclass
class AccessRules:
    orgs: dict[str, set[str]] = field(default_factory=dict)
    rules: list[tuple[str, list[str]]] = field(default_factory=list)  # principal -> patterns

    @classmethod
    def load(cls, path: str | Path) -> AccessRules:
        out = cls()
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise AccessFileError(f"{path}: {e.strerror or e}") from None
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            head, sep, rest = line.partition(":")
            words = rest.split()
            if not sep or not words:
                raise AccessFileError(
                    f"{path}:{n}: expected 'USER: PATTERN...', '@ORG: PATTERN...', '*: PATTERN...'"
                    " or 'org NAME: USER...'"
                )
            head = head.strip()
            if head.startswith("org "):
                org = head[4:].strip()
                if not _NAME_RE.match(org) or not all(_NAME_RE.match(w) for w in words):
                    raise AccessFileError(f"{path}:{n}: bad org or user name")
                out.orgs.setdefault(org.lower(), set()).update(words)
                continue
            name = head[1:] if head.startswith("@") else head
            if head != "*" and not _NAME_RE.match(name):
                raise AccessFileError(f"{path}:{n}: bad user or org name {head!r}")
            for w in words:
                if w.count("/") not in (1, 2) or w.startswith("/"):
                    raise AccessFileError(f"{path}:{n}: bad repo pattern {w!r} (ns/name)")
            out.rules.append((head.lower(), [w.lower() for w in words]))
        return out

    def allows(self, user: str | None, repo_type: str, repo_id: str) -> bool:
        if user is None:
            return False
        key = repo_key(repo_type, repo_id)
        me = user.lower()
        for principal, patterns in self.rules:
            if principal == "*":
                pass
            elif principal.startswith("@"):
                if user not in self.orgs.get(principal[1:], set()):
                    continue
            elif principal != me:
                continue
            if any(fnmatchcase(key, p) for p in patterns):
                return True
        return False


class AccessChecks:
    """Upstream access checks made with a client's own token, kept per (token, repo) ``ttl`` s."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str], tuple[float, ApiError | None]] = {}

    def get(self, who: Identity, repo: str) -> tuple[bool, ApiError | None]:
        """(known, refusal): ``known`` False when there is no fresh answer."""
        with self._lock:
            held = self._held.get((who.key, repo))
        if held is None or time.monotonic() - held[0] >= self.ttl:
            return False, None
        return True, held[1]

    def put(self, who: Identity, repo: str, refusal: ApiError | None) -> None:
        with self._lock:
            if len(self._held) > 65536:
                self._held.clear()
            self._held[(who.key, repo)] = (time.monotonic(), refusal)


def refusal(who: Identity, repo_type: str, repo_id: str, private: bool) -> ApiError:
    """The answer for a client that may not read a private or gated repo (as the Hub answers)."""
    if private:
        status = 401 if who == ANONYMOUS else 404
        return ApiError(status, f"Repository Not Found: {repo_id}", "RepoNotFound")
    if who == ANONYMOUS:
        return ApiError(
            401,
            f"Access to {repo_type} {repo_id} is restricted: authenticate to this mirror with a"
            " token that its access rules let read it",
            "GatedRepo",
        )
    return ApiError(
        403,
        f"Access to {repo_type} {repo_id} is restricted and you are not in this mirror's"
        " access rules for it",
        "GatedRepo",
    )
