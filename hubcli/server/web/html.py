"""A tiny template helper: ``esc`` for every value put into a page, ``Html`` for markup already
safe (built here from escaped parts), and the page layout."""

from __future__ import annotations

import html as _html
from urllib.parse import quote

from hubcli.server.web import static


class Html(str):
    """Markup that is safe to insert as is (built from escaped parts)."""


def esc(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(_html.escape(str(value), quote=True))


def join(parts: list[Html] | list[str]) -> Html:
    return Html("".join(p if isinstance(p, Html) else esc(p) for p in parts))


def qseg(value: str) -> str:
    """One URL path segment (a revision: ``/`` encoded)."""
    return quote(value, safe="")


def qpath(value: str) -> str:
    """A repo path in a URL (``/`` kept)."""
    return quote(value, safe="/")


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def layout(
    title: str,
    body: Html,
    *,
    nonce: str,
    user: str | None,
    csrf: str | None,
    can_sign_in: bool,
    search: str = "",
) -> bytes:
    if user is not None:
        who = Html(
            f'<span class="muted">{esc(user)}</span>'
            '<form class="inline" method="post" action="/logout">'
            f'<input type="hidden" name="csrf" value="{esc(csrf or "")}">'
            '<button type="submit">Sign out</button></form>'
        )
    elif can_sign_in:
        who = Html('<a href="/login">Sign in</a>')
    else:
        who = Html("")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{static.css_url()}">
<script src="{static.js_url()}" integrity="{static.js_integrity()}" nonce="{esc(nonce)}" defer>\
</script>
</head><body>
<header class="top"><a class="brand" href="/">hubcli hub</a>
<nav><a href="/models">Models</a><a href="/datasets">Datasets</a><a href="/spaces">Spaces</a></nav>
<form class="search" method="get" action="/models" role="search">
<input type="search" name="search" value="{esc(search)}" placeholder="Search models" \
aria-label="Search"></form>
<div class="who">{who}</div></header>
<main>{body}</main>
</body></html>
"""
    return page.encode()
