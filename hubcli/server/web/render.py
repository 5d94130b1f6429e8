"""Cards and code as HTML, treating every byte of a repo as untrusted.

Markdown goes through markdown-it with ``html=False`` (raw HTML is shown as text), links are kept
only for ``http``, ``https``, ``mailto`` and relative URLs (``javascript:``, ``data:`` and every
other scheme are dropped, so the text stays but is no link) and all get
``rel="noopener noreferrer"``; relative links and images point into the repo at the revision shown.
Code is highlighted by Pygments with CSS classes (no inline style), each block with a copy button.
"""

from __future__ import annotations

import functools
import posixpath
import re
import threading
from collections import OrderedDict
from typing import Any

from hubcli.server.web.html import Html, esc, qpath, qseg

_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_SAFE_SCHEMES = ("http", "https", "mailto")
_CONTROL_RE = re.compile(r"[\x00-\x20\x7f]+")
MAX_CARD = 2 << 20  # bytes of Markdown rendered; the rest is cut with a note
MAX_HIGHLIGHT = 512 << 10


def safe_url(url: str) -> bool:
    """Whether ``url`` may become an href/src: http(s), mailto or a scheme-less relative URL.
    Browsers drop ASCII whitespace and control characters inside a scheme, so does this check."""
    compact = _CONTROL_RE.sub("", url)
    if compact.startswith("//"):
        return True  # protocol-relative: http(s) to another host
    m = _SCHEME_RE.match(compact)
    if m:
        return m.group(1).lower() in _SAFE_SCHEMES
    return ":" not in compact.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]


def highlight(code: str, lang: str | None = None, filename: str | None = None) -> Html:
    """``code`` highlighted with CSS classes (``.hl``), escaped; plain when no lexer fits."""
    from pygments import highlight as _hl  # type: ignore[import-untyped]
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename  # type: ignore[import-untyped]
    from pygments.lexers.special import TextLexer  # type: ignore[import-untyped]
    from pygments.util import ClassNotFound  # type: ignore[import-untyped]

    lexer: Any = None
    try:
        if lang:
            lexer = get_lexer_by_name(lang.strip().split()[0].lower())
        elif filename:
            lexer = get_lexer_for_filename(filename.rsplit("/", 1)[-1], code[:4096])
    except ClassNotFound:
        lexer = None
    if lexer is None or len(code) > MAX_HIGHLIGHT:
        lexer = TextLexer()
    return Html(_hl(code, lexer, _formatter()))


@functools.cache
def _formatter() -> Any:
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]

    return HtmlFormatter(cssclass="hl", wrapcode=True, nobackground=True)


def code_block(inner: Html) -> Html:
    return Html(f'<div class="code"><button class="copy" type="button">Copy</button>{inner}</div>')


@functools.cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_url  # type: ignore[method-assign]

    def fence(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tok = tokens[idx]
        return code_block(highlight(tok.content, tok.info or None)) + "\n"

    md.add_render_rule("fence", fence)
    md.add_render_rule("code_block", fence)
    return md


def _rewrite(url: str, repo_base: str, rev: str, kind: str) -> str | None:
    """``url`` of the card as an href/src: None when unsafe; a relative one points into the repo
    (``kind``: ``blob`` for links, ``resolve`` for images) at ``rev``."""
    if not safe_url(url):
        return None
    if url.startswith(("#", "/")) or _SCHEME_RE.match(url):
        return url
    path, sep, frag = url.partition("#")
    path = path.split("?", 1)[0]
    joined = posixpath.normpath(path) if path else ""
    if not joined or joined.startswith("..") or joined == ".":
        return None
    return f"{repo_base}/{kind}/{qseg(rev)}/{qpath(joined)}" + (sep + frag if sep else "")


def _walk(tokens: Any, repo_base: str, rev: str) -> None:
    for tok in tokens:
        if tok.children:
            _walk(tok.children, repo_base, rev)
        if tok.type == "link_open":
            href = _rewrite(str(tok.attrGet("href") or ""), repo_base, rev, "blob")
            if href is None:
                tok.attrs.pop("href", None)
            else:
                tok.attrSet("href", href)
            tok.attrSet("rel", "noopener noreferrer")
        elif tok.type == "image":
            src = _rewrite(str(tok.attrGet("src") or ""), repo_base, rev, "resolve")
            if src is None:
                tok.attrs.pop("src", None)
            else:
                tok.attrSet("src", src)
            tok.attrSet("loading", "lazy")
            tok.attrSet("referrerpolicy", "no-referrer")


_cache: OrderedDict[tuple[str, str, str], Html] = OrderedDict()
_cache_lock = threading.Lock()


def markdown(text: str, repo_base: str, rev: str, cache_key: str | None = None) -> Html:
    """The card's Markdown (front matter already removed) as safe HTML; relative links and
    images resolved against ``repo_base`` (``/datasets/org/name``) at ``rev``."""
    key = (cache_key or "", repo_base, rev)
    if cache_key:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    note = ""
    if len(text) > MAX_CARD:
        text = text[:MAX_CARD]
        note = '<p class="note">(The card is longer than shown here: open README.md.)</p>'
    md = _markdown()
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    _walk(tokens, repo_base, rev)
    html = Html(md.renderer.render(tokens, md.options, env) + note)
    if cache_key:
        with _cache_lock:
            _cache[key] = html
            while len(_cache) > 64:
                _cache.popitem(last=False)
    return html


def split_front_matter(text: str) -> tuple[str, str]:
    """(YAML block, Markdown body) of a README."""
    if not text.startswith("---"):
        return "", text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return "", text
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :])
    return "", text


# ---------------------------------------------------------------------- metadata panel
def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    if isinstance(value, dict):
        return []
    return [str(value)]


def _badges(values: list[str], href: str | None = None) -> Html:
    out = []
    for v in values[:50]:
        if href is not None:
            out.append(f'<a class="badge" href="{esc(href % qpath(v))}">{esc(v)}</a>')
        else:
            out.append(f'<span class="badge">{esc(v)}</span>')
    return Html("".join(out))


def metrics_rows(meta: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(model, task, dataset, metric, value) rows of a ``model-index`` (malformed parts skipped)."""
    rows: list[tuple[str, str, str, str]] = []
    index = meta.get("model-index")
    if not isinstance(index, list):
        return rows
    for model in index[:20]:
        if not isinstance(model, dict) or not isinstance(model.get("results"), list):
            continue
        for res in model["results"][:100]:
            if not isinstance(res, dict):
                continue
            task: dict[str, Any] = res["task"] if isinstance(res.get("task"), dict) else {}
            data: dict[str, Any] = res["dataset"] if isinstance(res.get("dataset"), dict) else {}
            task_name = str(task.get("name") or task.get("type") or "")
            data_name = str(data.get("name") or data.get("type") or "")
            if data.get("split"):
                data_name += f" ({data['split']})"
            for m in res.get("metrics") or []:
                if isinstance(m, dict):
                    name = str(m.get("name") or m.get("type") or "")
                    rows.append((task_name, data_name, name, str(m.get("value", ""))))
    return rows[:500]


def metadata_panel(meta: dict[str, Any], repo_type: str) -> Html:
    if not meta:
        return Html("")
    plural = repo_type + "s"
    parts: list[str] = []

    def row(label: str, content: Html) -> None:
        if content:
            parts.append(f"<dt>{esc(label)}</dt><dd>{content}</dd>")

    row("License", _badges(_list(meta.get("license")) + _list(meta.get("license_name"))))
    row("Pipeline", _badges(_list(meta.get("pipeline_tag"))))
    row("Library", _badges(_list(meta.get("library_name"))))
    row("Base model", _badges(_list(meta.get("base_model")), "/%s"))
    row("Datasets", _badges(_list(meta.get("datasets")), "/datasets/%s"))
    row("Languages", _badges(_list(meta.get("language"))))
    row("Tags", _badges(_list(meta.get("tags")), f"/{plural}?filter=%s"))
    if repo_type == "space":
        row("SDK", _badges(_list(meta.get("sdk"))))
    out = ""
    if parts:
        out += '<section class="panel meta"><h2>Metadata</h2><dl>' + "".join(parts) + "</dl>"
        out += "</section>"
    rows = metrics_rows(meta)
    if rows:
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
        out += (
            '<section class="panel metrics"><h2>Evaluation results</h2><table class="metrics">'
            "<thead><tr><th>Task</th><th>Dataset</th><th>Metric</th><th>Value</th></tr></thead>"
            f"<tbody>{body}</tbody></table></section>"
        )
    return Html(out)
