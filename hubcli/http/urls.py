"""Hub URLs: origins (for scoping the token) and percent-encoding of revisions and paths."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, lower-cased host, port with the scheme's default) of ``url``."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def quote_segment(value: str) -> str:
    """Percent-encode a revision or tree path as one URL segment (no safe characters)."""
    return quote(value, safe="")


def quote_path(path: str) -> str:
    """Percent-encode a file path for a resolve URL, keeping '/'."""
    return quote(path, safe="/")
