"""Names the web pages use as the first path segment (``/models``, ``/login``, ...): never a user
or an organisation, so ``/<owner>`` and ``/<owner>/<name>`` can never be shadowed by a page or
shadow one. Repo creation and moves refuse them (``check_namespace``)."""

from __future__ import annotations

from hubcli.server.response import ApiError

RESERVED_NAMES = frozenset(
    {
        # the web pages and the API
        "models",
        "datasets",
        "spaces",
        "api",
        "static",
        "login",
        "logout",
        "settings",
        "search",
        "_cdn",
        "_lfs",
        "healthz",
        "metrics",
        # kept free, as on huggingface.co
        "new",
        "join",
        "docs",
        "blog",
        "organizations",
        "collections",
        "papers",
        "posts",
        "notifications",
        "pricing",
        "enterprise",
        "billing",
        "tasks",
        "learn",
        "chat",
        "admin",
        "favicon.ico",
        "robots.txt",
    }
)


def is_reserved(name: str) -> bool:
    return name.lower() in RESERVED_NAMES


def check_namespace(namespace: str) -> None:
    """400 when ``namespace`` (a user or an organisation) is a reserved name."""
    if is_reserved(namespace):
        raise ApiError(
            400,
            f"{namespace!r} is a reserved name and cannot be a user or an organization",
            "ReservedName",
        )
