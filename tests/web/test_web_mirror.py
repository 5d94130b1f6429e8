"""The web pages of a mirror (``hubcli serve --upstream``) in front of an upstream hub: what the
mirror holds, read through the mirror's access rules (access file, ``--forward-token``) exactly as
an API client is; the "upstream search" tab; headers, XSS and token hygiene as on the own hub."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hubcli.server.mirror import MirrorConfig, enable_mirror
from tests.fixtures.hub import HubFixture
from tests.mirror.conftest import Mirror
from tests.web.conftest import seed
from tests.web.test_web_pages import assert_inert, check_page_headers

CAROL, DAVE = "hf_mirror_carol_secret", "hf_mirror_dave_secret"
MirrorFactory = Callable[..., Mirror]


@pytest.fixture
def logged_mirror(tmp_path: Path) -> Iterator[MirrorFactory]:
    """Mirrors with a request log (``tmp_path/<name>.jsonl``)."""
    made: list[Mirror] = []
    dirs: list[tempfile.TemporaryDirectory[str]] = []

    def factory(upstream: str, log: str = "mirror", **config: Any) -> Mirror:
        d = tempfile.TemporaryDirectory(prefix="mirror-root-")
        dirs.append(d)
        srv = Mirror(Path(d.name), log_path=tmp_path / f"{log}.jsonl")
        srv.core = enable_mirror(srv, MirrorConfig(upstreams=[upstream], **config))
        srv.start()
        made.append(srv)
        return srv

    yield factory
    for srv in made:
        srv.stop()
    for d in dirs:
        d.cleanup()


@pytest.fixture
def upstream(hub_server_factory: Callable[..., HubFixture], tmp_path: Path) -> HubFixture:
    up = hub_server_factory(log_path=tmp_path / "upstream.jsonl")
    seed(up)
    return up


@pytest.fixture
def mirror(upstream: HubFixture, logged_mirror: MirrorFactory, tmp_path: Path) -> Mirror:
    access = tmp_path / "access"
    access.write_text("carol: alice/secret-model alice/gated-model\n")
    m = logged_mirror(upstream.url, token=upstream.alice_token, access_file=str(access))
    m.add_token(CAROL, "carol")
    m.add_token(DAVE, "dave")
    return m


def _sign_in(base: str, token: str) -> requests.Session:
    s = requests.Session()
    form = s.get(base + "/login", timeout=30)
    assert form.status_code == 200 and "Access token" in form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    r = s.post(
        base + "/login",
        data={"csrf": csrf.group(1), "token": token, "next": "/"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303, r.text
    assert "HttpOnly" in r.headers["Set-Cookie"] and token not in r.headers["Set-Cookie"]
    return s


def _get(s: requests.Session | None, url: str) -> requests.Response:
    r = (s or requests).get(url, timeout=60)
    check_page_headers(r) if r.headers.get("Content-Type", "").startswith("text/html") else None
    return r


def _fetch_as_client(base: str, repo: str, path: str, token: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = requests.get(f"{base}/{repo}/resolve/main/{path}", headers=headers, timeout=60)
    assert r.status_code == 200, r.text


PAGES = [
    ("/alice/m", ["Tiny model", "Evaluation results", "GLUE MRPC", "0.917", "apache-2.0"]),
    ("/alice/m/tree/main", ["config.json", "src/", "LFS", "model.safetensors", "2.0 kB"]),
    ("/alice/m/tree/main/src", ["model.py"]),
    ("/alice/m/blob/main/config.json", ["hidden_size", 'class="hl"']),
    ("/alice/m/blob/main/src/model.py", ['class="hl"', "return"]),
    ("/alice/m/blob/main/model.safetensors", ["LFS sha256", "Download"]),
    ("/alice/m/commits/main", ["seed"]),
    ("/alice/m/discussions", ["Pull requests"]),
    ("/datasets/alice/dset", ["A dataset", "repo_type=&quot;dataset&quot;"]),
    ("/datasets/alice/dset/blob/main/data.csv", ["a,b"]),
    ("/login", ["Access token"]),
]


def test_mirror_pages_of_a_stored_repo(mirror: Mirror, upstream: HubFixture) -> None:
    base = mirror.url
    home = _get(None, base + "/")
    assert home.status_code == 200 and "What this mirror holds" in home.text
    assert "alice/m" not in home.text  # nothing held yet
    _fetch_as_client(base, "alice/m", "config.json")  # an API client fills the mirror
    _fetch_as_client(base, "datasets/alice/dset", "data.csv")
    home = _get(None, base + "/")
    assert 'href="/alice/m"' in home.text and 'href="/datasets/alice/dset"' in home.text
    assert "alice/xss" not in home.text  # not held: listed by the upstream tab only
    for path, needles in PAGES:
        r = _get(None, base + path)
        assert r.status_code == 200, (path, r.text[:300])
        for needle in needles:
            assert needle in r.text, (path, needle)
        assert_inert(r.text, r.headers["Content-Security-Policy"])
    card = _get(None, base + "/alice/m").text
    assert f"HF_ENDPOINT={base} hubcli download alice/m --revision " in card
    assert "/alice/m" in _get(None, base + "/models").text
    assert "alice/m" in _get(None, base + "/alice").text
    # an upstream repo not held yet: its page fetches it through the mirror, then it is held
    r = _get(None, base + "/alice/xss")
    assert r.status_code == 200
    assert_inert(r.text, r.headers["Content-Security-Policy"])
    assert "&lt;script&gt;alert(6)&lt;/script&gt;" in r.text
    assert 'href="/alice/xss"' in _get(None, base + "/").text
    # errors are pages with the same headers; the API keeps its JSON answers
    for path in ("/alice/nope", "/alice/m/tree/nobranch", "/alice/m/blob/main/no.txt"):
        r = _get(None, base + path)
        assert r.status_code == 404, path
    r = requests.post(base + "/alice/m", timeout=30)
    assert r.status_code == 405 and r.headers["Content-Type"].startswith("application/json")
    r = requests.get(base + "/api/models/alice/m", timeout=30)
    assert r.headers["Content-Type"].startswith("application/json") and r.json()["id"] == "alice/m"
    r = requests.get(base + "/alice/m/resolve/main/page.html", timeout=30)
    assert r.status_code == 200 and "sandbox" in r.headers["Content-Security-Policy"]


def test_mirror_private_and_gated_follow_the_access_rules(
    mirror: Mirror, upstream: HubFixture, tmp_path: Path
) -> None:
    base = mirror.url
    _fetch_as_client(base, "alice/m", "config.json")
    _fetch_as_client(base, "alice/secret-model", "w.txt", CAROL)  # held now
    _fetch_as_client(base, "alice/gated-model", "w.txt", CAROL)
    anon = _get(None, base + "/")
    assert "alice/m" in anon.text
    assert "secret-model" not in anon.text and "gated-model" not in anon.text
    for path in ("/alice/secret-model", "/alice/gated-model", "/alice/secret-model/tree/main"):
        assert _get(None, base + path).status_code == 404, path
    assert "secret-model" not in _get(None, base + "/alice").text
    dave = _sign_in(base, DAVE)  # a user of the mirror the rules do not name
    assert "secret-model" not in _get(dave, base + "/").text
    assert _get(dave, base + "/alice/secret-model").status_code == 404
    assert _get(dave, base + "/alice/gated-model").status_code == 403
    carol = _sign_in(base, CAROL)
    home = _get(carol, base + "/").text
    assert "alice/secret-model" in home and "alice/gated-model" in home and "carol" in home
    r = _get(carol, base + "/alice/secret-model")
    assert r.status_code == 200 and "Secret" in r.text and "private" in r.text
    assert "private data" in _get(carol, base + "/alice/secret-model/blob/main/w.txt").text
    assert "gated data" in _get(carol, base + "/alice/gated-model/blob/main/w.txt").text
    dl = carol.get(base + "/alice/secret-model/resolve/main/w.txt", timeout=30)
    assert dl.text == "private data" and dl.headers["Cache-Control"] == "private, no-store"
    anon_dl = requests.get(base + "/alice/secret-model/resolve/main/w.txt", timeout=30)
    assert anon_dl.status_code == 401
    # the session never authorises a write (the mirror is read-only anyway)
    assert carol.post(base + "/api/repos/create", json={"name": "x"}, timeout=30).status_code in (
        401,
        404,
        405,
    )
    # sign-out ends the session: the old cookie is worthless
    old = dict(carol.cookies)
    csrf = re.search(r'name="csrf" value="([^"]+)"', carol.get(base + "/", timeout=30).text)
    assert csrf
    r = carol.post(base + "/logout", data={"csrf": csrf.group(1)}, allow_redirects=False)
    assert r.status_code == 303
    assert requests.get(base + "/alice/secret-model", cookies=old, timeout=30).status_code == 404
    # tokens: never in a page, a header, a URL or the mirror's log
    log = (tmp_path / "mirror.jsonl").read_text()
    assert "/login" in log
    for tok in (CAROL, DAVE, upstream.alice_token):
        assert tok not in log
        assert tok not in home
        assert tok not in str(carol.cookies) and tok not in str(dave.cookies)


def test_mirror_upstream_search_tab(mirror: Mirror, upstream: HubFixture) -> None:
    base = mirror.url
    r = _get(None, base + "/?tab=upstream")
    assert r.status_code == 200 and "Search the upstream hub" in r.text
    for repo in ('href="/alice/m"', 'href="/alice/xss"', 'href="/datasets/alice/dset"'):
        assert repo in r.text
    assert 'href="/spaces/alice/space"' in r.text
    assert "secret-model" not in r.text  # the mirror's own token saw it: filtered as in the API
    assert_inert(r.text, r.headers["Content-Security-Policy"])
    r = _get(None, base + "/?tab=upstream&search=xs")
    assert 'href="/alice/xss"' in r.text and 'href="/alice/m"' not in r.text
    # kept per identity, as the API's listing: the same search again does not ask upstream
    upstream.clear_requests()
    _get(None, base + "/?tab=upstream&search=xs")
    api = requests.get(base + "/api/models?search=xs&limit=30", timeout=30).json()
    assert [row["id"] for row in api] == ["alice/xss"]
    assert not [x for x in upstream.requests() if x["path"].startswith("/api/models")]
    carol = _sign_in(base, CAROL)  # another identity: its own listing, its own rules
    assert "alice/secret-model" in _get(carol, base + "/?tab=upstream").text
    assert "alice/secret-model" not in _get(None, base + "/?tab=upstream").text


def test_mirror_forward_token_sessions(
    upstream: HubFixture, logged_mirror: MirrorFactory, tmp_path: Path
) -> None:
    m = logged_mirror(upstream.url, log="fwd", forward_token=True)
    base = m.url
    assert _get(None, base + "/alice/secret-model").status_code == 404
    s = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"', s.get(base + "/login", timeout=30).text)
    assert csrf
    bad = s.post(base + "/login", data={"csrf": csrf.group(1), "token": "hf_nope"}, timeout=30)
    assert bad.status_code == 401 and "not valid" in bad.text and "hf_nope" not in bad.text
    alice = _sign_in(base, upstream.alice_token)  # the upstream says whose token it is
    r = _get(alice, base + "/alice/secret-model")
    assert r.status_code == 200 and "Secret" in r.text and "alice (upstream)" in r.text
    assert "alice/secret-model" in _get(alice, base + "/").text
    assert "alice/secret-model" not in _get(None, base + "/").text
    bob = _sign_in(base, upstream.bob_token)
    assert _get(bob, base + "/alice/secret-model").status_code == 404
    log = (tmp_path / "fwd.jsonl").read_text()
    assert upstream.alice_token not in log and upstream.alice_token not in r.text


def test_share_pages_without_upstream(
    hub_server_factory: Callable[..., HubFixture], tmp_path: Path
) -> None:
    """``--from-cache`` alone (air-gapped): the shared cache's repos, their cards and files."""
    from tests.fixtures.hub import hf_environment, run_hf
    from tests.web.conftest import CARD

    up = hub_server_factory()
    up.seed_repo("alice/m", {"README.md": CARD, "config.json": '{"hidden_size": 8}'})
    home = tmp_path / "sharer"
    run_hf(
        'from huggingface_hub import snapshot_download\nsnapshot_download("alice/m")\n',
        hf_environment(up.url, home),
    )
    up.stop()
    d = tempfile.TemporaryDirectory(prefix="share-root-")
    share = Mirror(Path(d.name))
    share.core = enable_mirror(share, MirrorConfig(from_cache=str(home / "hub")))
    share.start()
    try:
        base = share.url
        r = _get(None, base + "/")
        assert 'href="/alice/m"' in r.text and "Upstream search" not in r.text
        assert "Tiny model" in _get(None, base + "/alice/m").text
        assert "config.json" in _get(None, base + "/alice/m/tree/main").text
        assert "hidden_size" in _get(None, base + "/alice/m/blob/main/config.json").text
        assert _get(None, base + "/alice/m/commits/main").status_code == 200
        assert "it has no users" in _get(None, base + "/login").text
    finally:
        share.stop()
        d.cleanup()
