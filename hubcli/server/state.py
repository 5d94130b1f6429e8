"""The state every request handler shares: storage, knobs, log, users and orgs, limits, the URL
signer, the body budget, the listeners' ports and the open upload sessions.
"""

from __future__ import annotations

import threading
from typing import Any

from hubcli.server.knobs import Knobs, RequestLog
from hubcli.server.limits import ByteBudget, Limits
from hubcli.server.signing import UrlSigner, random_secret
from hubcli.server.storage import Storage


class HubState:
    """Everything the request handlers share."""

    def __init__(
        self,
        storage: Storage,
        knobs: Knobs,
        log: RequestLog,
        tokens: dict[str, str],
        admins: set[str] | None = None,
        limits: Limits | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.storage = storage
        self.knobs = knobs
        self.log = log
        self.tokens = dict(tokens)
        self.orgs: dict[str, set[str]] = {}
        self.admins: set[str] = set(admins or ())
        self.limits = limits or Limits()
        self.signer = UrlSigner(secret or random_secret(), self.limits.url_ttl)
        self.budget = ByteBudget(self.limits.body_budget)
        self.api_port = 0
        self.cdn_port = 0
        self.default_host = "127.0.0.1"
        self.scheme = "http"  # "https" when the server itself terminates TLS (--tls-cert)
        self.uploads: dict[str, dict[str, Any]] = {}
        self.uploads_lock = threading.Lock()

    def origin_for(self, host_header: str | None, *, cdn: bool) -> str:
        host = self.default_host
        if host_header:
            h = host_header.strip()
            if h.startswith("["):
                host = h[: h.index("]") + 1] if "]" in h else h
            else:
                host = h.rsplit(":", 1)[0] if ":" in h else h
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.cdn_port if cdn else self.api_port}"

    def is_owner(self, user: str | None, namespace: str) -> bool:
        if user is None:
            return False
        return user == namespace or user in self.admins or user in self.orgs.get(namespace, set())
