"""The pages: lists and search, an owner's repos, a repo's card, file tree, file preview, commits
and pull requests, and the sign-in form. Each returns the page body; ``routes`` wraps it."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from hubcli.server.records import Commit
from hubcli.server.request import Request
from hubcli.server.response import ApiError
from hubcli.server.views import parse_front_matter
from hubcli.server.web import render
from hubcli.server.web.backend import Backend, RepoRow, RepoView
from hubcli.server.web.html import Html, esc, human_size, qpath, qseg

KINDS = {"model": "models", "dataset": "datasets", "space": "spaces"}
LIST_PAGE = 30
TREE_PAGE = 50
COMMITS_PAGE = 50
PREVIEW_CAP = 512 << 10
LAST_COMMIT_BUDGET = 0.05  # seconds spent on a tree page's "last commit" column


@dataclass
class Page:
    title: str
    body: Html
    status: int = 200
    search: str = ""


def _int(req: Request, name: str, default: int = 0) -> int:
    try:
        return max(0, int(req.q(name) or default))
    except ValueError:
        return default


def _rows(rows: list[RepoRow]) -> Html:
    if not rows:
        return Html('<p class="muted">Nothing here yet.</p>')
    items = []
    for r in rows:
        prefix = "" if r.type == "model" else f"{r.type}s/"
        marks = ""
        if r.private:
            marks += ' <span class="badge warn">private</span>'
        if r.gated:
            marks += ' <span class="badge">gated</span>'
        items.append(
            f'<li><a href="/{esc(prefix)}{esc(r.id)}"><b>{esc(r.id)}</b></a>{marks}<br>'
            f'<span class="muted">updated {esc(r.last_modified[:10])} · '
            f"{r.downloads} downloads · {r.likes} likes</span></li>"
        )
    return Html('<ul class="repos">' + "".join(items) + "</ul>")


def _sorted(rows: list[RepoRow], sort: str) -> list[RepoRow]:
    rows = sorted(rows, key=lambda r: r.id.lower())
    if sort == "downloads":
        rows.sort(key=lambda r: r.downloads, reverse=True)
    elif sort == "likes":
        rows.sort(key=lambda r: r.likes, reverse=True)
    elif sort in ("modified", "lastModified"):
        rows.sort(key=lambda r: r.last_modified, reverse=True)
    return rows


def _match(rows: list[RepoRow], search: str, author: str, tag: str) -> list[RepoRow]:
    words = search.lower().split()
    return [
        r
        for r in rows
        if all(w in r.id.lower() for w in words)
        and (not author or r.id.split("/")[0].lower() == author.lower())
        and (not tag or tag in r.tags)
    ]


def home(req: Request, b: Backend) -> Page:
    search = req.q("search") or ""
    upstream = b.has_upstream and req.q("tab") == "upstream"
    tabs = ""
    if b.has_upstream:
        q = f"?{urlencode({'search': search})}" if search else ""
        uq = "?" + urlencode({"tab": "upstream", **({"search": search} if search else {})})
        tabs = (
            f'<nav class=tabs><a href="/{esc(q)}"{"" if upstream else " class=on"}>Held here</a>'
            f'<a href="/{esc(uq)}"{" class=on" if upstream else ""}>Upstream search</a></nav>'
        )
    hidden = '<input type="hidden" name="tab" value="upstream">' if upstream else ""
    title = "Search the upstream hub" if upstream else "What this " + b.label + " holds"
    parts = [
        f"<h1>{esc(title)}</h1>{tabs}",
        '<form method="get" action="/" role="search"><input type="search" name="search" '
        f'value="{esc(search)}" placeholder="Search models, datasets and spaces" '
        f'aria-label="Search all">{hidden}</form>',
    ]
    if upstream:
        return Page(title, Html("".join(parts) + _upstream(req, b, search)), search=search)
    for rtype, plural in KINDS.items():
        rows = _sorted(_match(b.list_repos(req, rtype), search, "", ""), "modified")
        link = f"/{plural}" + (f"?{urlencode({'search': search})}" if search else "")
        parts.append(
            f'<h2><a href="{esc(link)}">{plural.capitalize()}</a> '
            f'<span class="muted">{len(rows)}</span></h2>'
        )
        parts.append(_rows(rows[:12]))
    return Page("hubcli hub", Html("".join(parts)), search=search)


def _upstream(req: Request, b: Backend, search: str) -> str:
    """The upstream's search results (through the mirror), each linking to its page here."""
    parts = []
    for rtype, plural in KINDS.items():
        try:
            rows = b.upstream_search(req, rtype, search)
        except ApiError as e:
            parts.append(f"<h2>{plural.capitalize()}</h2><p class=err>{esc(e.message)}</p>")
            continue
        parts.append(
            f'<h2>{plural.capitalize()} <span class="muted">{len(rows)}</span></h2>{_rows(rows)}'
        )
    note = (
        '<p class="note">Listed by the upstream hub (kept briefly); opening one fetches it '
        "through this mirror.</p>"
    )
    return note + "".join(parts)


def listing(req: Request, b: Backend, rtype: str, author: str = "") -> Page:
    plural = KINDS[rtype]
    search = req.q("search") or ""
    sort = req.q("sort") or "modified"
    tag = req.q("filter") or ""
    author = author or req.q("author") or ""
    rows = _sorted(_match(b.list_repos(req, rtype), search, author, tag), sort)
    p = _int(req, "p")
    shown = rows[p * LIST_PAGE : (p + 1) * LIST_PAGE]
    opts = "".join(
        f'<option value="{v}"{" selected" if v == sort else ""}>{label}</option>'
        for v, label in (
            ("modified", "Recently updated"),
            ("downloads", "Most downloads"),
            ("likes", "Most likes"),
            ("id", "Name"),
        )
    )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{esc(v)}">'
        for k, v in (("filter", tag), ("author", author))
        if v
    )
    form = (
        f'<form method="get" action="/{plural}" class="pager" role="search">'
        f'<input type="search" name="search" value="{esc(search)}" placeholder="Search {plural}" '
        f'aria-label="Search {plural}">{hidden}<select name="sort" aria-label="Sort">{opts}'
        '</select><button type="submit">Go</button></form>'
    )

    def link(page: int) -> str:
        q = {"search": search, "sort": sort, "filter": tag, "author": author, "p": str(page)}
        return f"/{plural}?" + urlencode({k: v for k, v in q.items() if v})

    pager = []
    if p > 0:
        pager.append(f'<a href="{esc(link(p - 1))}">← Previous</a>')
    if (p + 1) * LIST_PAGE < len(rows):
        pager.append(f'<a href="{esc(link(p + 1))}">Next →</a>')
    title = plural.capitalize() + (f" · {tag}" if tag else "") + (f" by {author}" if author else "")
    body = (
        f'<h1>{esc(title)} <span class="muted">{len(rows)}</span></h1>{form}{_rows(shown)}'
        f'<div class="pager">{"".join(pager)}</div>'
    )
    return Page(title, Html(body), search=search)


def owner(req: Request, b: Backend, ns: str) -> Page:
    parts = [f"<h1>{esc(ns)}</h1>"]
    total = 0
    for rtype, plural in KINDS.items():
        rows = [r for r in b.list_repos(req, rtype) if r.id.split("/")[0].lower() == ns.lower()]
        total += len(rows)
        if rows:
            parts.append(f"<h2>{plural.capitalize()} <span class='muted'>{len(rows)}</span></h2>")
            parts.append(_rows(_sorted(rows, "modified")))
    if not total:
        raise ApiError(404, f"{ns} has no repos you can see")
    return Page(ns, Html("".join(parts)))


# ---------------------------------------------------------------------- one repo
def _header(view: RepoView, tab: str, rev: str = "main") -> Html:
    kind = {"model": "", "dataset": "Dataset: ", "space": "Space: "}[view.type]
    marks = ""
    if view.private:
        marks += ' <span class="badge warn">private</span>'
    if view.gated:
        marks += ' <span class="badge">gated</span>'
    base = esc(view.base)
    r = esc(qseg(rev))
    tabs = [
        ("card", f"{base}", "Card"),
        ("tree", f"{base}/tree/{r}", "Files and versions"),
        ("commits", f"{base}/commits/{r}", "Commits"),
        ("discussions", f"{base}/discussions", f"Pull requests ({len(view.prs)})"),
    ]
    links = "".join(
        f'<a href="{href}"{" class=on" if key == tab else ""}>{label}</a>'
        for key, href, label in tabs
    )
    owner = view.id.split("/")[0]
    return Html(
        f'<h1><span class="kind">{kind}</span><a href="/{esc(owner)}">{esc(owner)}</a>/'
        f"{esc(view.id.split('/', 1)[1])}{marks}</h1><nav class=tabs>{links}</nav>"
    )


def use_it(req: Request, view: RepoView, commit: Commit | None, rev: str) -> Html:
    """The exact download lines for this hub: hubcli (pinned to the commit, like the CLI's
    own snippet), hf and huggingface_hub."""
    endpoint = req.origin()
    display = f"{view.prefix}{view.id}"
    env = f"HF_ENDPOINT={shlex.quote(endpoint)}"
    hubcli = ["hubcli", "download", display]
    if commit is not None:
        hubcli += ["--revision", commit.id]
    hf = ["hf", "download", view.id]
    if view.type != "model":
        hf += ["--repo-type", view.type]
    if rev != "main":
        hf += ["--revision", rev]
    py_args = [json.dumps(view.id)]
    if view.type != "model":
        py_args.append(f"repo_type={json.dumps(view.type)}")
    if rev != "main":
        py_args.append(f"revision={json.dumps(rev)}")
    py_args.append(f"endpoint={json.dumps(endpoint)}")
    py = "from huggingface_hub import snapshot_download\n\npath = snapshot_download(" + (
        ", ".join(py_args) + ")"
    )
    snippets = [
        ("hubcli", f"{env} {shlex.join(hubcli)}"),
        ("hf", f"{env} HF_HUB_DISABLE_XET=1 {shlex.join(hf)}"),
        ("Python", py),
    ]
    blocks = "".join(
        f"<h3>{esc(name)}</h3>" + render.code_block(Html(f"<pre><code>{esc(text)}</code></pre>"))
        for name, text in snippets
    )
    note = ""
    if view.private or view.gated:
        note = '<p class="note">Needs a token with access: set HF_TOKEN.</p>'
    return Html(f'<section class="panel use"><h2>Use it</h2>{blocks}{note}</section>')


def repo_card(req: Request, b: Backend, view: RepoView) -> Page:
    refs = b.refs(req, view)
    commit = b.commit(req, view, "main") if refs.get("heads", {}).get("main") else None
    card_html = Html('<p class="muted">This repo has no README.md.</p>')
    meta: dict[str, object] = {}
    entry = commit.tree.get("README.md") if commit else None
    # the card of a gated repo is public, as on the Hub (its metadata already is, in the API)
    if commit is not None and entry is not None:
        if entry.is_lfs:
            card_html = Html('<p class="muted">README.md is stored with LFS.</p>')
        else:
            text = b.read(req, view, entry, render.MAX_CARD + (64 << 10)).decode("utf-8", "replace")
            front, body = render.split_front_matter(text)
            meta = (parse_front_matter(text) or {}) if front else {}
            card_html = render.markdown(body, view.base, "main", cache_key=entry.oid)
    side = use_it(req, view, commit, "main") + render.metadata_panel(meta, view.type)  # type: ignore[arg-type]
    if commit is not None:
        side += Html(
            f'<section class="panel"><h2>Last commit</h2><a href="{esc(view.base)}/commits/main">'
            f"{esc(commit.title or commit.id[:12])}</a><br>"
            f"<span class=muted>{esc(commit.date[:19])} · "
            f"{len(commit.tree)} files</span></section>"
        )
    body = (
        f'{_header(view, "card")}<div class="cols"><article class="card">{card_html}</article>'
        f"<aside>{side}</aside></div>"
    )
    return Page(view.id, Html(body))


def _crumbs(view: RepoView, rev: str, path: str, kind: str) -> Html:
    base = f"{view.base}/tree/{qseg(rev)}"
    parts = [f'<a href="{esc(base)}">{esc(view.id.split("/", 1)[1])}</a>']
    segs = path.split("/") if path else []
    for i, seg in enumerate(segs):
        if i == len(segs) - 1 and kind == "blob":
            parts.append(esc(seg))
        else:
            href = f"{base}/{qpath('/'.join(segs[: i + 1]))}"
            parts.append(f'<a href="{esc(href)}">{esc(seg)}</a>')
    return Html(" / ".join(parts))


def _rev_menu(req: Request, b: Backend, view: RepoView, rev: str, kind: str, path: str) -> Html:
    refs = b.refs(req, view)
    names = sorted(refs.get("heads", {})) + sorted(refs.get("tags", {}))
    links = " ".join(
        f'<a class="badge" href="{esc(view.base)}/{kind}/{esc(qseg(n))}'
        f'{"/" + esc(qpath(path)) if path and kind == "tree" else ""}">{esc(n)}</a>'
        for n in names[:30]
        if n != rev
    )
    return Html(
        f'<p>Revision <b class="badge">{esc(rev)}</b>'
        + (f' <span class="muted">other refs:</span> {links}' if links else "")
        + "</p>"
    )


def tree(req: Request, b: Backend, view: RepoView, rev: str, path: str) -> Page:
    commit = b.commit(req, view, rev)
    dirs = commit.dirs()
    path = path.strip("/")
    if path in commit.tree:
        return blob(req, b, view, rev, path)
    if path not in dirs:
        raise ApiError(404, f"No folder {path} at {rev}")
    children = dirs[path]
    # folders first, then files, each by name (as the Hub shows them)
    children = sorted(children, key=lambda p: (p in commit.tree, p.lower()))
    offset = _int(req, "offset")
    page = children[offset : offset + TREE_PAGE]
    rows = []
    deadline = time.monotonic() + LAST_COMMIT_BUDGET
    skipped = 0
    r = esc(qseg(rev))
    for child in page:
        name = child.rsplit("/", 1)[-1]
        entry = commit.tree.get(child)
        last = None
        if time.monotonic() < deadline:
            last = b.last_commit(req, view, commit, child)
        else:
            skipped += 1
        when = (
            f'<a href="{esc(view.base)}/tree/{esc(last.id)}" title="{esc(last.title)}">'
            f"{esc(last.date[:10])}</a>"
            if last is not None
            else "—"
        )
        if entry is None:
            rows.append(
                f'<tr><td class="dir"><a href="{esc(view.base)}/tree/{r}/{esc(qpath(child))}">'
                f'{esc(name)}/</a></td><td class="size"></td><td class="when">{when}</td></tr>'
            )
        else:
            lfs = ' <span class="badge">LFS</span>' if entry.is_lfs else ""
            rows.append(
                f'<tr><td><a href="{esc(view.base)}/blob/{r}/{esc(qpath(child))}">'
                f'{esc(name)}</a>{lfs}</td><td class="size">{human_size(entry.size)}</td>'
                f'<td class="when">{when}</td></tr>'
            )
    more = ""
    if offset + TREE_PAGE < len(children):
        left = len(children) - offset - TREE_PAGE
        more = f'<a href="?offset={offset + TREE_PAGE}">Load more ({left} left)</a>'
    if offset:
        more = f'<a href="?offset={max(0, offset - TREE_PAGE)}">← Previous</a>' + more
    note = ""
    if skipped:
        note = (
            f'<p class="note">"Last change" was left out for {skipped} entries to keep the page '
            "fast; the commits tab has the history.</p>"
        )
    body = (
        f"{_header(view, 'tree', rev)}{_rev_menu(req, b, view, rev, 'tree', path)}"
        f"<p>{_crumbs(view, rev, path, 'tree')}</p>"
        f'<p class="muted">Commit <a href="{esc(view.base)}/commits/{esc(commit.id)}">'
        f"{esc(commit.id[:12])}</a> · {esc(commit.title)} · {esc(commit.date[:19])} · "
        f"{len(children)} entries</p>"
        '<table class="files"><thead><tr><th>Name</th><th>Size</th><th>Last change</th></tr>'
        f'</thead><tbody>{"".join(rows)}</tbody></table><div class="pager">{more}</div>{note}'
    )
    return Page(f"{view.id} at {rev}", Html(body))


def _is_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data[:8192].decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > 8180  # a character cut at the sample's end
    return True


def blob(req: Request, b: Backend, view: RepoView, rev: str, path: str) -> Page:
    commit = b.commit(req, view, rev)
    path = path.strip("/")
    entry = commit.tree.get(path)
    if entry is None:
        if path in commit.dirs():
            return tree(req, b, view, rev, path)
        raise ApiError(404, f"No file {path} at {rev}")
    name = path.rsplit("/", 1)[-1]
    dl = f"{view.base}/resolve/{qseg(commit.id)}/{qpath(path)}"
    facts = [f"{human_size(entry.size)}", f"git blob {entry.oid}"]
    if entry.sha256:
        facts.append(f"LFS sha256 {entry.sha256}")
    info = (
        f'<p class="muted">{" · ".join(esc(f) for f in facts)}</p>'
        f'<p><a href="{esc(dl)}?download=true" download="{esc(name)}">Download</a> · '
        f'<a href="{esc(dl)}">raw</a></p>'
    )
    if not b.may_read_files(req, view):
        preview = '<p class="muted">Gated: shown to users granted access.</p>'
    elif entry.is_lfs:
        preview = (
            '<p class="muted">Stored with LFS: no preview. Check the download against '
            "the sha256 above.</p>"
        )
    else:
        data = b.read(req, view, entry, PREVIEW_CAP)
        if not _is_text(data):
            preview = '<p class="muted">Binary file: no preview.</p>'
        else:
            text = data.decode("utf-8", "replace")
            cut = ""
            if entry.size > PREVIEW_CAP:
                cut = f'<p class="note">Showing the first {human_size(PREVIEW_CAP)}.</p>'
            preview = cut + render.code_block(render.highlight(text, filename=name))
    body = (
        f"{_header(view, 'tree', rev)}{_rev_menu(req, b, view, rev, 'blob', path)}"
        f"<p>{_crumbs(view, rev, path, 'blob')}</p>{info}<div class=blob>{preview}</div>"
    )
    return Page(f"{path} · {view.id}", Html(body))


def commits(req: Request, b: Backend, view: RepoView, rev: str) -> Page:
    commit = b.commit(req, view, rev)
    offset = _int(req, "offset")
    history = b.history(req, view, commit.id, offset + COMMITS_PAGE + 1)
    page = history[offset : offset + COMMITS_PAGE]
    rows = "".join(
        f'<tr><td><a href="{esc(view.base)}/tree/{esc(c.id)}">{esc(c.id[:12])}</a></td>'
        f"<td>{esc(c.title)}</td><td>{esc(c.author)}</td>"
        f'<td class="when">{esc(c.date[:19])}</td></tr>'
        for c in page
    )
    more = ""
    if len(history) > offset + COMMITS_PAGE:
        more = f'<a href="?offset={offset + COMMITS_PAGE}">Older →</a>'
    if offset:
        more = f'<a href="?offset={max(0, offset - COMMITS_PAGE)}">← Newer</a>' + more
    body = (
        f"{_header(view, 'commits', rev)}{_rev_menu(req, b, view, rev, 'commits', '')}"
        '<table class="files"><thead><tr><th>Commit</th><th>Title</th><th>Author</th>'
        f'<th>Date</th></tr></thead><tbody>{rows}</tbody></table><div class="pager">{more}</div>'
    )
    return Page(f"Commits · {view.id}", Html(body))


def discussions(req: Request, b: Backend, view: RepoView) -> Page:
    refs = b.refs(req, view).get("prs", {})
    items = sorted(view.prs.items(), key=lambda kv: -int(kv[0]) if kv[0].isdigit() else 0)
    rows = "".join(
        f"<tr><td>#{esc(num)}</td>"
        f'<td><a href="{esc(view.base)}/tree/{esc(qseg("refs/pr/" + num))}">'
        f"{esc(pr.get('title') or '(no title)')}</a></td><td>{esc(pr.get('author', ''))}</td>"
        f'<td class="when">{esc(str(pr.get("createdAt", ""))[:19])}</td>'
        f"<td>{'open' if num in refs else 'closed'}</td></tr>"
        for num, pr in items
        if isinstance(pr, dict)
    )
    table = (
        '<table class="files"><thead><tr><th>#</th><th>Title</th><th>Author</th><th>Opened</th>'
        f"<th>Status</th></tr></thead><tbody>{rows}</tbody></table>"
        if rows
        else '<p class="muted">No pull requests.</p>'
    )
    return Page(f"Pull requests · {view.id}", Html(f"{_header(view, 'discussions')}{table}"))


def login_form(message: str, csrf: str, next_url: str, can_sign_in: bool) -> Page:
    if not can_sign_in:
        body = (
            "<h1>Sign in</h1><p>This server is a mirror: it has no users, every page shows what "
            "it holds to everyone who can reach it.</p>"
        )
        return Page("Sign in", Html(body))
    msg = f'<p class="err">{esc(message)}</p>' if message else ""
    body = (
        f"<h1>Sign in</h1>{msg}"
        '<form method="post" action="/login" autocomplete="off">'
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="next" value="{esc(next_url)}">'
        '<p><label>Access token<br><input type="password" name="token" required '
        'autocomplete="off" spellcheck="false"></label></p>'
        '<p><button type="submit">Sign in</button></p></form>'
        '<p class="note">The token is checked once and kept by the server only as your user name '
        "in a session; your browser gets a random session id. Over plain HTTP the token crosses "
        "the network in clear: use this hub behind TLS.</p>"
    )
    return Page("Sign in", Html(body), 401 if message else 200)
