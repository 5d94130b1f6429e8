"""Links in answers: cursor pagination (``Link: <...>; rel="next"``, ``X-Total-Count``) and a
repo's web URL."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from hubcli.server.records import Repo
from hubcli.server.request import Request
from hubcli.server.response import ApiError


def paginate(req: Request, items: list[Any], page_size: int) -> tuple[list[Any], dict[str, str]]:
    offset = 0
    cursor = req.q("cursor")
    if cursor:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "Invalid cursor") from None
    page_size = max(1, page_size)
    page = items[offset : offset + page_size]
    headers: dict[str, str] = {}
    if offset + page_size < len(items):
        q = parse_qs(req.query_string, keep_blank_values=True)
        q["cursor"] = [
            base64.urlsafe_b64encode(json.dumps({"o": offset + page_size}).encode()).decode()
        ]
        url = f"{req.origin()}{req.raw_path}?{urlencode(q, doseq=True)}"
        headers["Link"] = f'<{url}>; rel="next"'
    headers["X-Total-Count"] = str(len(items))
    return page, headers


def repo_url(req: Request, repo: Repo) -> str:
    return f"{req.api_origin()}/{repo.prefix}{repo.id}"
