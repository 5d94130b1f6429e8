"""Web pages for people: browse, search and read cards in a browser, at the Hub's own URLs.

The routers (``hubcli.server.router`` and the mirror's) call ``dispatch`` only for requests no API
route took, so a page never shadows an API route; ``RESERVED_NAMES`` keeps the pages' first path
segments (``models``, ``login``, ...) from ever naming a user or an organisation. Everything heavy
(markdown-it, Pygments) is imported on the first page, not on the server's start.
"""

from __future__ import annotations

from hubcli.server.web.reserved import RESERVED_NAMES, check_namespace, is_reserved

__all__ = ["RESERVED_NAMES", "check_namespace", "is_reserved"]
