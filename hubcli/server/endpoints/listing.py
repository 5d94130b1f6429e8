"""The repo listing endpoint (``GET /api/{models,datasets,spaces}``): search, filters, sort,
expand and pagination."""

from __future__ import annotations

from typing import Any

from hubcli.server.endpoints.links import paginate
from hubcli.server.request import Request
from hubcli.server.response import ApiError, Response
from hubcli.server.views import LISTING_DEFAULT, repo_summary, select_fields


def listing(req: Request, repo_type: str) -> Response:
    st = req.state.storage
    user = req.user
    searches = [x.lower() for x in req.query.get("search", []) if x]
    author = req.q("author")
    filters = [f for f in req.query.get("filter", []) if f]
    pipeline = req.q("pipeline_tag")
    models = [m.lower() for m in req.query.get("models", []) if m] if repo_type == "space" else []
    rows: list[dict[str, Any]] = []
    for repo in st.list_repos(repo_type):
        if repo.meta.get("private") and not req.state.is_owner(user, repo.namespace):
            continue
        if author and repo.namespace.lower() != author.lower():
            continue
        if searches and not all(x in repo.id.lower() for x in searches):
            continue
        head = st.resolve_rev(repo, "main")
        summary = repo_summary(st, repo, st.get_commit(repo, head) if head else None)
        tags = set(summary["tags"])
        if filters and not all(f in tags or f == repo.id for f in filters):
            continue
        if pipeline and summary.get("pipeline_tag") != pipeline:
            continue
        if repo_type == "space":
            summary["models"] = _card_models(summary["cardData"])
            if models and not set(models) <= {m.lower() for m in summary["models"]}:
                continue
        gated = req.q("gated")
        if gated is not None and bool(summary["gated"]) != (gated.lower() == "true"):
            continue
        rows.append(summary)
    sort = req.q("sort")
    direction = req.q("direction")
    if sort in ("createdAt", "downloads", "lastModified", "likes", "trendingScore", "id"):
        desc = direction != "1"
        rows.sort(key=lambda r: r["id"])
        rows.sort(key=lambda r: r.get(sort) or 0, reverse=desc)
    else:
        rows.sort(key=lambda r: r["id"], reverse=direction == "-1")
    limit = req.q("limit")
    page_size = req.state.knobs.page_size
    if limit:
        try:
            limit_n = int(limit)
        except ValueError:
            raise ApiError(400, "Invalid limit") from None
        rows = rows[:limit_n]
        page_size = min(page_size, max(1, limit_n))
    expand = req.query.get("expand", [])
    full = req.qbool("full")
    if expand and (full or req.qbool("cardData")):
        raise ApiError(400, "expand cannot be combined with full or cardData")
    out = []
    for r in rows:
        if expand:
            item = select_fields(r, expand)
        elif full:
            item = dict(r)
            if not req.qbool("cardData"):
                item.pop("cardData", None)
        else:
            item = select_fields(r, LISTING_DEFAULT[repo_type])
            if req.qbool("cardData"):
                item["cardData"] = r["cardData"]
        out.append(item)
    page, headers = paginate(req, out, page_size)
    return Response.json(page, headers=headers)


def _card_models(card: Any) -> list[str]:
    """A Space's ``models:`` card metadata (a list of model ids, or one id) as the Hub lists it."""
    value = card.get("models") if isinstance(card, dict) else None
    if isinstance(value, str):
        value = [value]
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []
