"""The web pages end to end, over real HTTP against the local hub: routes, rendered cards, safety
(XSS, CSP, sessions, CSRF, token hygiene), API routes unchanged, reserved names."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests

from hubcli.server.web.routes import is_page_path
from tests.fixtures.hub import HubFixture, hf_environment, run_hf

PAGES = [
    ("/", ["alice/m", "alice/dset", "alice/space"]),
    ("/models", ["alice/m", "alice/xss"]),
    ("/models?search=xs", ["alice/xss"]),
    ("/models?sort=downloads", ["alice/m"]),
    ("/models?filter=demo", ["alice/m"]),
    ("/datasets", ["alice/dset"]),
    ("/spaces", ["alice/space"]),
    ("/alice", ["alice/m", "alice/dset", "alice/space"]),
    ("/alice/m", ["Tiny model", "Evaluation results", "GLUE MRPC", "0.917", "apache-2.0"]),
    ("/alice/m/tree/main", ["config.json", "src/", "LFS", "model.safetensors", "2.0 kB"]),
    ("/alice/m/tree/main/src", ["model.py"]),
    ("/alice/m/blob/main/src/model.py", ['class="hl"', "return"]),
    ("/alice/m/blob/main/model.safetensors", ["LFS sha256", "Download"]),
    ("/alice/m/blob/main/blob.bin.txt", ["Binary file", "Download"]),
    ("/alice/m/commits/main", ["seed"]),
    ("/alice/m/discussions", ["Pull requests"]),
    ("/datasets/alice/dset", ["A dataset", "repo_type=&quot;dataset&quot;"]),
    ("/datasets/alice/dset/tree/main", ["data.csv"]),
    ("/datasets/alice/dset/blob/main/data.csv", ["a,b"]),
    ("/spaces/alice/space", ["A space", "gradio"]),
    ("/spaces/alice/space/blob/main/app.py", ["print"]),
    ("/alice/gated-model", ["Gated card", "gated"]),
    ("/login", ["Access token", 'name="csrf"']),
]


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def parse(text: str) -> list[tuple[str, dict[str, str | None]]]:
    p = Tags()
    p.feed(text)
    p.close()
    return p.tags


def assert_inert(text: str, csp: str) -> None:
    """One script element (ours: the static file, with the CSP's nonce), no event handlers,
    no style attributes, no javascript:/data: URLs, no frames or objects."""
    tags = parse(text)
    scripts = [a for t, a in tags if t == "script"]
    assert len(scripts) == 1, scripts
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp)
    assert nonce and scripts[0].get("nonce") == nonce.group(1)
    assert (scripts[0].get("src") or "").startswith("/static/hub.")
    for tag, attrs in tags:
        assert tag not in ("iframe", "object", "embed", "svg", "base", "form") or (
            tag == "form"
            and attrs.get("action") in ("/", "/models", "/datasets", "/spaces", "/login", "/logout")
        ), (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, attrs)
            assert name != "style", (tag, attrs)
            if name in ("href", "src", "action", "formaction", "srcset"):
                v = re.sub(r"[\x00-\x20]", "", value or "").lower()
                assert not v.startswith(("javascript:", "data:", "vbscript:")), (tag, attrs)
        if tag == "a" and attrs.get("href", "").startswith(("http", "//")):  # type: ignore[union-attr]
            assert attrs.get("rel") == "noopener noreferrer", attrs


def check_page_headers(r: requests.Response) -> None:
    csp = r.headers["Content-Security-Policy"]
    for part in ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert part in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("path", "needles"), PAGES)
def test_page_status_content_and_headers(
    web_hub: HubFixture, path: str, needles: list[str]
) -> None:
    r = requests.get(web_hub.url + path, timeout=30)
    assert r.status_code == 200, (path, r.text[:500])
    for needle in needles:
        assert needle in r.text, (path, needle)
    check_page_headers(r)
    assert_inert(r.text, r.headers["Content-Security-Policy"])
    head = requests.head(web_hub.url + path, timeout=30)
    assert head.status_code == 200 and "Content-Security-Policy" in head.headers


def test_error_pages_and_static(web_hub: HubFixture) -> None:
    for path in (
        "/nobody",
        "/alice/nope",
        "/alice/m/tree/nobranch",
        "/alice/m/blob/main/no.txt",
        "/static/hub.0000.css",
    ):
        r = requests.get(web_hub.url + path, timeout=30)
        assert r.status_code == 404, path
        check_page_headers(r)
    page = requests.get(web_hub.url + "/", timeout=30).text
    css = re.search(r'href="(/static/hub\.[0-9a-f]+\.css)"', page)
    js = re.search(r'src="(/static/hub\.[0-9a-f]+\.js)"', page)
    assert css and js
    for url, ctype in ((css.group(1), "text/css"), (js.group(1), "text/javascript")):
        r = requests.get(web_hub.url + url, timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype)
        assert "immutable" in r.headers["Cache-Control"]
    assert len(requests.get(web_hub.url + js.group(1), timeout=30).text.splitlines()) <= 25


def test_card_rendering(web_hub: HubFixture) -> None:
    text = requests.get(web_hub.url + "/alice/m", timeout=30).text
    assert "<table>" in text and "<td>one</td>" in text  # markdown table
    assert '<span class="nb">print</span>' in text  # pygments with classes
    assert '<button class="copy" type="button">Copy</button>' in text
    assert "&lt;b&gt;hello&lt;/b&gt;" in text
    assert 'href="/alice/m/blob/main/config.json"' in text  # relative link into the repo
    assert 'src="/alice/m/resolve/main/images/plot.png"' in text
    assert 'href="/datasets/alice/dset"' in text and 'href="/org/base"' in text
    # the use-it box: this hub's endpoint filled in
    ep = web_hub.url
    assert f"HF_ENDPOINT={ep} hubcli download alice/m --revision " in text
    assert f"HF_ENDPOINT={ep} HF_HUB_DISABLE_XET=1 hf download alice/m" in text
    assert f"snapshot_download(&quot;alice/m&quot;, endpoint=&quot;{ep}&quot;)" in text
    ds = requests.get(web_hub.url + "/datasets/alice/dset", timeout=30).text
    assert "hubcli download datasets/alice/dset" in ds
    assert "hf download alice/dset --repo-type dataset" in ds


def test_xss_card_rendered_inert(web_hub: HubFixture) -> None:
    r = requests.get(web_hub.url + "/alice/xss", timeout=30)
    assert r.status_code == 200
    assert_inert(r.text, r.headers["Content-Security-Policy"])
    assert "&lt;script&gt;alert(6)&lt;/script&gt;" in r.text  # shown as text
    assert "https://example.com/ok" in r.text
    for n in range(1, 21):
        assert f"<script>alert({n})" not in r.text
    assert "/etc/passwd" not in "".join(a.get("href") or "" for _, a in parse(r.text))
    for path in ("/alice/xss/blob/main/README.md", "/alice/m/blob/main/page.html", "/models"):
        r = requests.get(web_hub.url + path, timeout=30)
        assert_inert(r.text, r.headers["Content-Security-Policy"])
    # a repo's HTML file, opened through resolve, is sandboxed (no script, opaque origin)
    r = requests.get(web_hub.url + "/alice/m/resolve/main/page.html", timeout=30)
    assert r.status_code == 200 and "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_tree_pagination_and_pull_requests(web_hub: HubFixture) -> None:
    r = requests.get(web_hub.url + "/alice/many/tree/main", timeout=30)
    rows = [a for t, a in parse(r.text) if t == "a" and "/blob/main/f" in (a.get("href") or "")]
    assert len(rows) == 50 and "Load more (70 left)" in r.text
    r = requests.get(web_hub.url + "/alice/many/tree/main?offset=100", timeout=30)
    rows = [a for t, a in parse(r.text) if t == "a" and "/blob/main/f" in (a.get("href") or "")]
    assert len(rows) == 20 and "Load more" not in r.text
    pr = requests.post(
        web_hub.url + "/api/models/alice/m/discussions",
        json={"title": "Add <b>stuff</b>", "pullRequest": True},
        headers={"Authorization": f"Bearer {web_hub.alice_token}"},
        timeout=30,
    )
    assert pr.status_code == 200, pr.text
    text = requests.get(web_hub.url + "/alice/m/discussions", timeout=30).text
    assert "Add &lt;b&gt;stuff&lt;/b&gt;" in text and "/alice/m/tree/refs%2Fpr%2F1" in text
    assert requests.get(web_hub.url + "/alice/m/tree/refs%2Fpr%2F1", timeout=30).ok
    assert requests.get(web_hub.url + "/alice/m/tree/refs/pr/1/src", timeout=30).ok


def _sign_in(hub: HubFixture, token: str) -> requests.Session:
    s = requests.Session()
    form = s.get(hub.url + "/login", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    r = s.post(
        hub.url + "/login",
        data={"csrf": csrf.group(1), "token": token, "next": "/alice"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303, r.text
    assert r.headers["Location"] == "/alice"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
    return s


def test_private_repo_hidden_without_session_visible_with_one(web_hub: HubFixture) -> None:
    url = web_hub.url
    assert "secret-model" not in requests.get(url + "/models", timeout=30).text
    assert "secret-model" not in requests.get(url + "/alice", timeout=30).text
    assert requests.get(url + "/alice/secret-model", timeout=30).status_code == 404
    assert requests.get(url + "/alice/secret-model/tree/main", timeout=30).status_code == 404
    dl = url + "/alice/secret-model/resolve/main/w.txt"
    assert requests.get(dl, timeout=30).status_code == 401
    bob = _sign_in(web_hub, web_hub.bob_token)  # another user: still hidden
    assert bob.get(url + "/alice/secret-model", timeout=30).status_code == 404
    s = _sign_in(web_hub, web_hub.alice_token)
    assert "secret-model" in s.get(url + "/models", timeout=30).text
    r = s.get(url + "/alice/secret-model", timeout=30)
    assert r.status_code == 200 and "Secret" in r.text and "private" in r.text
    assert "private data" in s.get(url + "/alice/secret-model/blob/main/w.txt", timeout=30).text
    assert s.get(dl, timeout=30).text == "private data"  # the session authorises downloads
    # gated: file previews for granted users only; the card is public
    assert "gated data" not in requests.get(url + "/alice/gated-model/blob/main/w.txt").text
    assert "gated data" in s.get(url + "/alice/gated-model/blob/main/w.txt", timeout=30).text
    # the session never authorises a write
    r = s.post(url + "/api/repos/create", json={"name": "x"}, timeout=30)
    assert r.status_code == 401
    # sign out ends the session on the server: the old cookie is worthless
    old = dict(s.cookies)
    csrf = re.search(r'name="csrf" value="([^"]+)"', s.get(url + "/", timeout=30).text)
    assert csrf
    r = s.post(url + "/logout", data={"csrf": csrf.group(1)}, allow_redirects=False, timeout=30)
    assert r.status_code == 303
    assert requests.get(url + "/alice/secret-model", cookies=old, timeout=30).status_code == 404
    assert requests.get(dl, cookies=old, timeout=30).status_code == 401


def test_posts_without_csrf_refused(web_hub: HubFixture) -> None:
    url = web_hub.url
    tok = web_hub.alice_token
    # no pre-session cookie / no form field / wrong value / cross-site Origin
    r = requests.post(url + "/login", data={"token": tok}, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and "Set-Cookie" not in r.headers
    s = requests.Session()
    form = s.get(url + "/login", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    for data, headers in (
        ({"token": tok}, {}),
        ({"token": tok, "csrf": "wrong"}, {}),
        ({"token": tok, "csrf": csrf.group(1)}, {"Origin": "http://evil.example"}),
        ({"token": tok, "csrf": csrf.group(1)}, {"Origin": "null"}),
    ):
        r = s.post(url + "/login", data=data, headers=headers, allow_redirects=False, timeout=30)
        assert r.status_code == 403, data
        assert "hub_session" not in r.headers.get("Set-Cookie", "")
    signed = _sign_in(web_hub, tok)
    r = signed.post(url + "/logout", data={}, allow_redirects=False, timeout=30)
    assert r.status_code == 403
    assert signed.get(url + "/alice/secret-model", timeout=30).status_code == 200  # still in
    r = signed.post(url + "/logout", data={"csrf": "x"}, allow_redirects=False, timeout=30)
    assert r.status_code == 403
    # a wrong token: no session, the token is not echoed
    r = s.post(url + "/login", data={"token": "hf_wrong_guess", "csrf": csrf.group(1)}, timeout=30)
    assert r.status_code == 401 and "hf_wrong_guess" not in r.text


def test_token_never_in_a_page_header_url_or_log(web_hub: HubFixture, tmp_path: Path) -> None:
    tok = web_hub.alice_token
    s = requests.Session()
    seen: list[str] = []

    def record(r: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(r.url)
        seen.append(json.dumps(dict(r.headers)))
        seen.append(r.text)

    s.hooks["response"].append(record)
    form = s.get(web_hub.url + "/login?next=/alice/secret-model", timeout=30).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    s.post(
        web_hub.url + "/login",
        data={"token": tok, "csrf": csrf.group(1), "next": "/alice/secret-model"},
        timeout=30,
    )
    for path in (
        "/",
        "/alice/secret-model",
        "/alice/secret-model/tree/main",
        "/alice/secret-model/blob/main/w.txt",
        "/alice/secret-model/resolve/main/w.txt",
    ):
        assert s.get(web_hub.url + path, timeout=30).ok
    assert any("<h1>Secret</h1>" in item for item in seen)  # signed in: the private card
    for item in seen:
        assert tok not in item
    assert tok not in json.dumps(dict(s.cookies))
    log = (tmp_path / "requests.jsonl").read_text()
    assert "/login" in log and tok not in log


def test_api_routes_unchanged(web_hub: HubFixture, tmp_path: Path) -> None:
    url = web_hub.url
    r = requests.get(url + "/api/models", timeout=30)
    assert r.headers["Content-Type"].startswith("application/json")
    assert {m["id"] for m in r.json()} >= {"alice/m", "alice/xss"}
    r = requests.get(url + "/alice/m/resolve/main/config.json", timeout=30)
    assert r.json() == {"hidden_size": 8}
    r = requests.get(url + "/alice/m.git/info/lfs/objects/batch", timeout=30)
    assert r.status_code == 405 and r.headers["Content-Type"].startswith("application/json")
    r = requests.get(url + "/api/nothing/here", timeout=30)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
    r = requests.post(url + "/alice/m", timeout=30)  # a page path, but not a page method
    assert r.headers["Content-Type"].startswith("application/json")
    home = tmp_path / "hf_home"
    home.mkdir()
    env = hf_environment(url, home)
    out = run_hf(
        """
        import os
        from huggingface_hub import snapshot_download
        p = snapshot_download("alice/m")
        print(sorted(os.listdir(p)))
        """,
        env,
    )
    assert "config.json" in out.stdout and "model.safetensors" in out.stdout


def test_reserved_names_refused(web_hub: HubFixture) -> None:
    h = {"Authorization": f"Bearer {web_hub.alice_token}"}
    web_hub.add_org("models", ["alice"])
    web_hub.add_org("login", ["alice"])
    for name in ("models/x", "login/x", "API/x", "static/x", "settings/x", "spaces/x"):
        r = requests.post(
            web_hub.url + "/api/repos/create", json={"name": name}, headers=h, timeout=30
        )
        assert r.status_code == 400, (name, r.text)
        assert r.headers.get("X-Error-Code") == "ReservedName"
    r = requests.post(
        web_hub.url + "/api/repos/create",
        json={"name": "x", "organization": "datasets"},
        headers=h,
        timeout=30,
    )
    assert r.status_code == 400
    r = requests.post(
        web_hub.url + "/api/repos/move",
        json={"fromRepo": "alice/m", "toRepo": "logout/m"},
        headers=h,
        timeout=30,
    )
    assert r.status_code == 400
    r = requests.post(
        web_hub.url + "/api/repos/create", json={"name": "fine"}, headers=h, timeout=30
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("", True),
        ("models", True),
        ("alice", True),
        ("alice/m", True),
        ("alice/m/tree/main/x", True),
        ("datasets/alice/d/blob/main/x", True),
        ("api/models", False),
        ("alice/m/resolve/main/x", False),
        ("datasets/alice/d/resolve/main/x", False),
        ("alice/m.git/info/lfs/objects/batch", False),
        ("_cdn/lfs/model/a/b/c", False),
        ("_lfs/upload/x", False),
        ("alice/m/info/refs", False),
    ],
)
def test_page_paths_never_api_paths(path: str, page: bool) -> None:
    assert is_page_path(path.split("/") if path else []) is page
