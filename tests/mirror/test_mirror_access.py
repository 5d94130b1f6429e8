"""Gated and private upstream repos through the mirror: the local access file (users and orgs of
the mirror -> repo patterns) and ``--forward-token`` (an upstream check with the client's own
token, cached per token and repo); content stored for one client is never served to another
without that other's own check; listings are kept per identity."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from hubcli.server.mirror.access import AccessFileError, AccessRules
from tests.fixtures.hub import HubFixture, hf_environment, run_hf
from tests.mirror.conftest import Mirror, seed_files

CAROL, DAVE, ERIN = "hf_mirror_carol", "hf_mirror_dave", "hf_mirror_erin"


def _get(url: str, token: str | None = None, **kw: object) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


def test_access_file_rules(tmp_path: Path) -> None:
    f = tmp_path / "access"
    f.write_text(
        "# team rules\norg team: carol erin\n@team: alice/gated*\ncarol: alice/priv* "
        "datasets/alice/*\n*: acme/shared\n"
    )
    rules = AccessRules.load(f)
    assert rules.allows("carol", "model", "alice/private")
    assert rules.allows("erin", "model", "Alice/Gated-2")
    assert rules.allows("carol", "dataset", "alice/d")
    assert not rules.allows("carol", "model", "alice/d")
    assert not rules.allows("erin", "model", "alice/private")
    assert rules.allows("dave", "model", "acme/shared")
    assert not rules.allows(None, "model", "acme/shared")
    for bad in ("carol alice/x\n", "carol:\n", "carol: noslash\n", "org t: a b/c\n"):
        f.write_text(bad)
        with pytest.raises(AccessFileError, match=":1:"):
            AccessRules.load(f)


def test_access_file_gates_private_and_gated_repos(
    hub_server_factory: Callable[..., HubFixture],
    mirror_factory: Callable[..., Mirror],
    tmp_path: Path,
) -> None:
    up = hub_server_factory()
    files = seed_files(20_000)
    up.seed_repo("alice/pub", files)
    up.seed_repo("alice/private", files, private=True)
    up.seed_repo("alice/gated", files, gated=True)
    access = tmp_path / "access"
    access.write_text("org team: carol erin\n@team: alice/gated\ncarol: alice/priv*\n")
    mirror = mirror_factory([up.url], token=up.alice_token, access_file=str(access))
    for tok, user in ((CAROL, "carol"), (DAVE, "dave"), (ERIN, "erin")):
        mirror.add_token(tok, user)
    base = mirror.url

    def status(repo: str, tok: str | None, path: str = "config.json") -> tuple[int, str]:
        r = _get(f"{base}/{repo}/resolve/main/{path}", tok)
        if r.status_code == 200:
            assert r.content == files[path]
            return 200, r.headers.get("Cache-Control", "")
        return r.status_code, r.headers.get("X-Error-Code", "")

    assert status("alice/gated", None) == (401, "GatedRepo")
    assert status("alice/gated", DAVE) == (403, "GatedRepo")
    assert status("alice/gated", CAROL) == (200, "private, no-store")
    assert status("alice/gated", ERIN)[0] == 200
    assert status("alice/private", None) == (401, "RepoNotFound")
    assert status("alice/private", DAVE) == (404, "RepoNotFound")
    assert status("alice/private", ERIN) == (404, "RepoNotFound")
    assert status("alice/private", CAROL)[0] == 200
    assert status("alice/pub", None)[0] == 200
    # the stored bytes are not for everyone: every endpoint checks, whatever is in the store
    assert _get(f"{base}/api/models/alice/private", DAVE).status_code == 404
    assert _get(f"{base}/api/models/alice/private/tree/main", None).status_code == 401
    assert _get(f"{base}/api/models/alice/private/refs", ERIN).status_code == 404
    assert _get(f"{base}/api/models/alice/private", CAROL).json()["id"] == "alice/private"
    # LFS: the CDN answer of a gated repo must stay out of shared caches; a public one is immutable
    r = _get(f"{base}/alice/gated/resolve/main/model.safetensors", CAROL)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-store"
    r = _get(f"{base}/alice/pub/resolve/main/model.safetensors")
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # listings are kept per identity: the private row only for those the rules let read it
    assert "alice/private" not in [x["id"] for x in _get(f"{base}/api/models?search=alice").json()]
    rows = _get(f"{base}/api/models?search=alice", CAROL).json()
    assert "alice/private" in [x["id"] for x in rows]
    rows = _get(f"{base}/api/models?search=alice", DAVE).json()
    assert "alice/private" not in [x["id"] for x in rows]
    # huggingface_hub sees the Hub's own errors
    env = hf_environment(base, tmp_path / "hf", token=DAVE)
    code = """
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import GatedRepoError
        try:
            hf_hub_download("alice/gated", "config.json")
        except GatedRepoError:
            print("gated")
    """
    assert run_hf(code, env).stdout.strip().endswith("gated")
    assert not any(CAROL in json.dumps(q) or DAVE in json.dumps(q) for q in up.requests())


def test_forward_token_checks_each_client_upstream(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    up = hub_server_factory()
    files = seed_files(20_000)
    up.seed_repo("alice/private", files, private=True)
    up.seed_repo("alice/gated", files, gated=True)
    up.grant_access("alice/gated", "bob")
    up.add_token("hf_upstream_carl", "carl")
    mirror = mirror_factory([up.url], forward_token=True, revision_ttl=30)
    base = mirror.url
    # alice (the owner) reads both: the mirror fetched with her token and stored the bytes
    for repo in ("alice/private", "alice/gated"):
        r = _get(f"{base}/{repo}/resolve/main/config.json", up.alice_token)
        assert r.status_code == 200 and r.content == files["config.json"]
        assert r.headers["Cache-Control"] == "private, no-store"
    assert all(q["auth"] for q in up.requests())
    # what alice's token fetched is not served to others without their own upstream check
    assert _get(f"{base}/alice/private/resolve/main/config.json", up.bob_token).status_code == 404
    assert _get(f"{base}/alice/private/resolve/main/config.json").status_code == 401
    assert _get(f"{base}/api/models/alice/private/tree/main", "hf_upstream_carl").status_code == 404
    r = _get(f"{base}/alice/gated/resolve/main/config.json", "hf_upstream_carl")
    assert r.status_code == 403 and r.headers["X-Error-Code"] == "GatedRepo"
    assert _get(f"{base}/alice/gated/resolve/main/config.json", "hf_unknown").status_code == 401
    # bob was granted the gated repo upstream: checked once; config.json comes from the store
    up.clear_requests()
    for path in ("config.json", "README.md", "sub/vocab.txt", "model.safetensors"):
        r = _get(f"{base}/alice/gated/resolve/main/{path}", up.bob_token)
        assert r.status_code == 200 and r.content == files[path], (path, r.text)
    checks = [q for q in up.requests() if q["method"] == "HEAD"]
    assert len(checks) == 1
    assert not [q for q in up.requests() if q["method"] == "GET" and "config.json" in q["path"]]
    # a refusal is cached per (token, repo) too: no second upstream check
    up.clear_requests()
    for _ in range(2):
        r = _get(f"{base}/alice/gated/resolve/main/README.md", "hf_upstream_carl")
        assert r.status_code == 403
    assert up.requests() == []
