"""The one stylesheet and the few lines of script, served at content-hashed URLs
(``/static/hub.<hash>.css``) with an immutable cache lifetime: a new version is a new URL."""

from __future__ import annotations

import base64
import functools
import hashlib

from hubcli.server.response import Response

_CSS = """
:root{--bg:#fff;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;--card:#f6f8fa;--acc:#0969da;
--tag:#ddf4ff;--warn:#fff8c5;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mute:#9198a1;
--line:#3d444d;--card:#151b23;--acc:#4493f8;--tag:#121d2f;--warn:#2e2a1a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif}
a{color:var(--acc);text-decoration:none}a:hover{text-decoration:underline}
header.top{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;
border-bottom:1px solid var(--line)}
header.top .brand{font-weight:700;color:var(--fg)}
header.top nav{display:flex;gap:.8rem;flex-wrap:wrap}
header.top form.search{flex:1;min-width:12rem;display:flex}
header.top .who{margin-left:auto;display:flex;gap:.5rem;align-items:center}
main{max-width:1100px;margin:0 auto;padding:1rem}
input,select,button{font:inherit;color:inherit;background:var(--bg);border:1px solid var(--line);
border-radius:6px;padding:.3rem .6rem}
input[type=search],input[type=password]{width:100%}
button{cursor:pointer;background:var(--card)}
h1{font-size:1.4rem;margin:.2rem 0 .6rem;word-break:break-word}
h1 .kind{color:var(--mute);font-weight:400}
.muted{color:var(--mute)}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;background:var(--tag);
font-size:.8rem;margin:0 .2rem .2rem 0;border:1px solid var(--line)}
.badge.warn{background:var(--warn)}
ul.repos{list-style:none;padding:0;margin:0;display:grid;
grid-template-columns:repeat(auto-fill,minmax(18rem,1fr));gap:.6rem}
ul.repos li{border:1px solid var(--line);border-radius:8px;padding:.5rem .7rem;
background:var(--card);overflow-wrap:anywhere}
.cols{display:grid;grid-template-columns:minmax(0,1fr) 20rem;gap:1.2rem}
@media (max-width:800px){.cols{grid-template-columns:minmax(0,1fr)}}
.tabs{display:flex;gap:1rem;border-bottom:1px solid var(--line);margin-bottom:1rem;flex-wrap:wrap}
.tabs a{padding:.3rem 0}.tabs a.on{border-bottom:2px solid var(--fg);color:var(--fg)}
.panel{border:1px solid var(--line);border-radius:8px;padding:.6rem .8rem;margin-bottom:1rem;
background:var(--card);overflow-wrap:anywhere}
.panel h2{font-size:1rem;margin:.1rem 0 .5rem}
table{border-collapse:collapse;width:100%;display:block;overflow-x:auto}
th,td{border:1px solid var(--line);padding:.25rem .5rem;text-align:left;vertical-align:top}
table.files td.size,table.files td.when{white-space:nowrap;color:var(--mute)}
table.files{display:table}
table.files td.dir a{font-weight:600}
.card{overflow-wrap:anywhere}.card img{max-width:100%}
pre{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.6rem;
overflow-x:auto;font-size:.85rem;line-height:1.4;margin:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.code{position:relative;margin:.6rem 0}
.code button.copy{position:absolute;top:.3rem;right:.3rem;font-size:.75rem;padding:.1rem .4rem;
opacity:.85}
.code button.copy:not([data-copy]){display:none}
.code button.copy[data-copy]+pre,.code button.copy[data-copy]+div pre{padding-right:4.2rem}
.use pre{white-space:pre-wrap;word-break:break-all}
.blob pre{counter-reset:l}
.pager{margin:.8rem 0;display:flex;gap:1rem}
.note{font-size:.85rem;color:var(--mute)}
form.inline{display:inline}
.err{border-left:4px solid #cf222e;padding:.5rem 1rem;background:var(--card)}
"""

JS = """\
document.querySelectorAll("button.copy").forEach(function (b) {
  b.setAttribute("data-copy", "ready");  // the CSS shows copy buttons only once this ran
});
document.addEventListener("click", function (e) {
  var b = e.target.closest && e.target.closest("button.copy");
  if (!b) return;
  var t = b.parentNode.querySelector("pre"); if (!t) return;
  function done() {
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = "Copy"; }, 1500);
  }
  function fallback() {
    var r = document.createRange(); r.selectNodeContents(t);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    try { if (document.execCommand("copy")) done(); } catch (_) {}
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(t.innerText).then(done, fallback);
  } else { fallback(); }
});
"""


@functools.cache
def css() -> bytes:
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]

    light = str(HtmlFormatter(style="default").get_style_defs(".hl"))
    dark = str(HtmlFormatter(style="github-dark").get_style_defs(".hl"))
    dark = dark.replace(".hl  {", ".hl {")
    text = (
        _CSS
        + light
        + "\n@media (prefers-color-scheme:dark){\n"
        + dark
        + "\n.hl{background:transparent}}\n.hl{background:transparent}\n"
    )
    return text.encode()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@functools.cache
def css_url() -> str:
    return f"/static/hub.{_digest(css())}.css"


@functools.cache
def js_url() -> str:
    return f"/static/hub.{_digest(JS.encode())}.js"


@functools.cache
def js_integrity() -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(JS.encode()).digest()).decode()


def serve(name: str) -> Response | None:
    """The asset named by a content-hashed URL, or None (a stale or unknown name)."""
    immutable = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    if "/static/" + name == css_url():
        return Response(200, css(), {"Content-Type": "text/css; charset=utf-8", **immutable})
    if "/static/" + name == js_url():
        ctype = "text/javascript; charset=utf-8"
        return Response(200, JS.encode(), {"Content-Type": ctype, **immutable})
    return None
