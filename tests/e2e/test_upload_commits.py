"""Commits of an upload against the local hub: one commit for many files, halving on 413 and on
failures, and a commit whose answer was lost is never applied twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hubcli.client import HubClient
from hubcli.config import resolve_settings
from hubcli.errors import NetworkError, ServerError
from hubcli.http import HubSession
from hubcli.repo import RepoRef
from hubcli.server.limits import Limits
from hubcli.upload import commit as commit_mod
from hubcli.upload.engine import plan_upload, upload


def _client(hub: Any, *, retries: int = 2) -> HubClient:
    settings = resolve_settings(endpoint=hub.url, token=hub.alice_token, env={})
    return HubClient(HubSession(settings, max_retries=retries, backoff_base=0.01))


def _folder(root: Path, n: int) -> Path:
    for i in range(n):
        p = root / f"d{i % 7}" / f"f{i:04d}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}\n")
    return root


def _history(hub: Any, repo_id: str) -> list[Any]:
    repo = hub.storage.get_repo("model", repo_id)
    return list(reversed(hub.storage.history(repo, hub.head(repo_id))))  # oldest first


def _added_once(hub: Any, repo_id: str, paths: set[str]) -> None:
    """Every path appears in exactly one commit of the history and never changes after it."""
    seen: dict[str, int] = {}
    prev: dict[str, Any] = {}
    for n, c in enumerate(_history(hub, repo_id)):
        for path, entry in c.tree.items():
            if prev.get(path) != entry:
                assert path not in seen, f"{path} was committed again by commit {n}"
                seen[path] = n
        prev = dict(c.tree)
    assert paths <= set(seen)
    assert set(prev) >= paths


def test_many_files_make_one_commit(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "d", 3000)
    env = {"HF_ENDPOINT": hub_server.url, "HF_TOKEN": hub_server.alice_token}
    r = run_cli("upload", "alice/many", str(folder), "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["commits"]) == 1
    history = _history(hub_server, "alice/many")
    assert len(history) == 2  # the repo's initial commit, then ours
    assert history[-1].id == doc["commit_oid"] == hub_server.head("alice/many")
    assert len([p for p in history[-1].tree if p.endswith(".txt")]) == 3000
    commits = [q for q in hub_server.requests() if "/commit/" in q["path"]]
    assert len(commits) == 1
    assert hub_server.read_file("alice/many", "d3/f2999.txt") == b"file 2999\n"


def test_commit_refused_as_too_large_is_halved_until_it_fits(
    hub_server_factory: Any, tmp_path: Path
) -> None:
    hub = hub_server_factory(limits=Limits(max_commit_ops=10))
    hub.seed_repo("alice/big", {"old.txt": "old"})
    folder = _folder(tmp_path / "d", 25)
    paths = {f"d{i % 7}/f{i:04d}.txt" for i in range(25)}
    res = upload(_client(hub), RepoRef("alice/big"), plan_upload(folder), commit_message="add")
    assert len(res.commits) >= 3  # 25 -> 13 + 12 -> 7 + 6 + 6 + 6 (each <= 10)
    assert res.commit_oid == hub.head("alice/big") == res.commits[-1]
    history = _history(hub, "alice/big")
    assert [c.id for c in history[-len(res.commits) :]] == list(res.commits)
    titles = [c.title for c in history[-len(res.commits) :]]
    assert titles[0] == "add" and titles[1:] == [
        f"add (part {n})" for n in range(2, len(titles) + 1)
    ]
    _added_once(hub, "alice/big", paths)
    for i in (0, 12, 24):
        assert hub.read_file("alice/big", f"d{i % 7}/f{i:04d}.txt") == f"file {i}\n".encode()
    assert hub.read_file("alice/big", "old.txt") == b"old"


def test_lost_answer_of_an_applied_commit_is_not_applied_twice(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_server.seed_repo("alice/lost", {"a.txt": "a"})
    before = len(_history(hub_server, "alice/lost"))
    folder = _folder(tmp_path / "d", 20)
    real = commit_mod.send_commit
    calls = {"n": 0}

    def applied_then_dropped(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        real(*args, **kwargs)  # the server applies the commit...
        if calls["n"] == 1:  # ...and the answer never arrives
            raise NetworkError("POST 127.0.0.1: connection failed after 1 attempt(s).")
        raise AssertionError("the commit was sent again")

    monkeypatch.setattr(commit_mod, "send_commit", applied_then_dropped)
    said: list[str] = []
    res = upload(_client(hub_server), RepoRef("alice/lost"), plan_upload(folder), say=said.append)
    assert calls["n"] == 1
    history = _history(hub_server, "alice/lost")
    assert len(history) == before + 1  # exactly one commit
    assert res.commits == (history[-1].id,) and res.commit_oid == hub_server.head("alice/lost")
    assert any("landed" in s for s in said)
    _added_once(hub_server, "alice/lost", {f"d{i % 7}/f{i:04d}.txt" for i in range(20)})


def test_commit_answered_500_after_applying_is_not_applied_twice(
    hub_server: Any, tmp_path: Path
) -> None:
    """At the HTTP layer: the commit POST reaches the server, then a proxy answers 502."""
    hub_server.seed_repo("alice/gw", {"a.txt": "a"})
    before = len(_history(hub_server, "alice/gw"))
    folder = _folder(tmp_path / "d", 10)
    client = _client(hub_server)
    real = client.session.request
    posts: list[str] = []

    def bad_gateway(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        resp = real(method, url, *args, **kwargs)
        if method == "POST" and "/commit/" in url:
            posts.append(url)
            resp.close()
            raise ServerError("127.0.0.1: server error 502 (bad gateway).", status=502)
        return resp

    client.session.request = bad_gateway  # type: ignore[method-assign]
    res = upload(client, RepoRef("alice/gw"), plan_upload(folder))
    assert len(posts) == 1
    assert len(_history(hub_server, "alice/gw")) == before + 1
    assert res.commit_oid == hub_server.head("alice/gw")


def test_failed_commit_that_did_not_land_is_halved_and_sent_again(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_server.seed_repo("alice/flaky", {"a.txt": "a"})
    folder = _folder(tmp_path / "d", 16)
    real = commit_mod.send_commit
    sizes: list[int] = []

    def flaky(client: Any, ref: Any, revision: str, body: Any, **kwargs: Any) -> Any:
        sizes.append(len(body))
        if len(sizes) == 1:  # a gateway timeout before the server saw anything
            body.close()
            raise ServerError("127.0.0.1: server error 504 (gateway timeout).", status=504)
        return real(client, ref, revision, body, **kwargs)

    monkeypatch.setattr(commit_mod, "send_commit", flaky)
    res = upload(_client(hub_server), RepoRef("alice/flaky"), plan_upload(folder))
    assert len(sizes) == 3 and sizes[1] < sizes[0] and sizes[2] < sizes[0]
    assert len(res.commits) == 2
    _added_once(hub_server, "alice/flaky", {f"d{i % 7}/f{i:04d}.txt" for i in range(16)})


def test_single_file_commit_failing_every_time_gives_up(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub_server.seed_repo("alice/down", {"a.txt": "a"})
    folder = _folder(tmp_path / "d", 1)
    calls = {"n": 0}

    def down(client: Any, ref: Any, revision: str, body: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        body.close()
        raise ServerError("127.0.0.1: server error 503.", status=503)

    monkeypatch.setattr(commit_mod, "send_commit", down)
    with pytest.raises(ServerError):
        upload(_client(hub_server, retries=2), RepoRef("alice/down"), plan_upload(folder))
    assert calls["n"] == 3  # the first try and two retries
    with pytest.raises(FileNotFoundError):
        hub_server.read_file("alice/down", "d0/f0000.txt")


def test_commit_body_is_what_json_dumps_makes(tmp_path: Path) -> None:
    """The streamed body is byte-for-byte huggingface_hub's payload, with the announced length."""
    from hubcli.upload.items import Item
    from hubcli.upload.plan import LocalFile
    from hubcli.upload.results import FileResult

    f = tmp_path / "x.txt"
    f.write_bytes(b"hello \xe2\x9c\x93\n")
    reg = Item(LocalFile(f, 'd\u00e9j\u00e0/"q".txt', f.stat().st_size), data=f.read_bytes())
    lfs = Item(LocalFile(f, "w.bin", 5000), mode="lfs", sha256="ab" * 32)
    header = {"summary": "s \u2713", "description": "", "parentCommit": "c" * 40}
    body = commit_mod.CommitBody(
        header, [reg, lfs], [FileResult("old.txt", 1, "regular", "deleted")]
    )
    data = b""
    while chunk := body.read(7):
        data += chunk
    import base64

    lines = [
        {"key": "header", "value": header},
        {
            "key": "file",
            "value": {
                "content": base64.b64encode(f.read_bytes()).decode(),
                "path": reg.file.path_in_repo,
                "encoding": "base64",
            },
        },
        {
            "key": "lfsFile",
            "value": {"path": "w.bin", "algo": "sha256", "oid": "ab" * 32, "size": 5000},
        },
        {"key": "deletedFile", "value": {"path": "old.txt"}},
    ]
    assert data == "".join(json.dumps(x) + "\n" for x in lines).encode()
    assert len(body) == len(data)


# -- the commit sent while hashing (many small files) --------------------------------------------
def _commit_posts(hub: Any) -> list[dict[str, Any]]:
    return [q for q in hub.requests() if q["method"] == "POST" and "/commit/" in q["path"]]


def test_many_small_files_are_committed_while_hashed(hub_server: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "d", 700)
    said: list[str] = []
    res = upload(_client(hub_server), RepoRef("alice/early"), plan_upload(folder), say=said.append)
    assert len(res.commits) == 1 and res.commit_oid == hub_server.head("alice/early")
    assert len(_commit_posts(hub_server)) == 1
    assert {f.status for f in res.files} == {"uploaded"} and len(res.files) == 700
    _added_once(hub_server, "alice/early", {f"d{i % 7}/f{i:04d}.txt" for i in range(700)})
    assert any("Committed" in s for s in said)


def test_early_commit_gives_way_when_a_file_is_unchanged(hub_server: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "d", 600)
    client = _client(hub_server)
    upload(client, RepoRef("alice/again"), plan_upload(folder))
    before = len(_history(hub_server, "alice/again"))
    (folder / "d4" / "f0599.txt").write_text("changed\n")  # in a later preupload group
    hub_server.clear_requests()
    res = upload(client, RepoRef("alice/again"), plan_upload(folder))
    assert len(_history(hub_server, "alice/again")) == before + 1
    status = {f.path: f.status for f in res.files}
    assert status.pop("d4/f0599.txt") == "uploaded"
    assert set(status.values()) == {"unchanged"}
    assert hub_server.read_file("alice/again", "d4/f0599.txt") == b"changed\n"
    # the early request was cut before its body was complete; the usual commit went through
    ok = [q for q in _commit_posts(hub_server) if q.get("status") == 200]
    assert len(ok) == 1
    # nothing changed at all: no commit
    res = upload(client, RepoRef("alice/again"), plan_upload(folder))
    assert res.nothing_to_commit and len(_history(hub_server, "alice/again")) == before + 1


def test_early_commit_gives_way_to_lfs_and_ignored_files(
    hub_server_factory: Any, tmp_path: Path
) -> None:
    hub = hub_server_factory(lfs_threshold=3000)
    folder = _folder(tmp_path / "d", 600)
    (folder / "d6" / "f0300.txt").write_bytes(b"x" * 5000)  # LFS on this server
    (folder / "skip.log").write_text("ignored\n")
    (folder / ".gitignore").write_text("*.log\n")
    res = upload(_client(hub), RepoRef("alice/mixed"), plan_upload(folder))
    assert len(res.commits) == 1
    modes = {f.path: (f.mode, f.status) for f in res.files}
    assert modes["d6/f0300.txt"] == ("lfs", "uploaded")
    assert modes["skip.log"][1] == "ignored"
    assert hub.read_file("alice/mixed", "d6/f0300.txt") == b"x" * 5000
    with pytest.raises(FileNotFoundError):
        hub.read_file("alice/mixed", "skip.log")
    assert len(_history(hub, "alice/mixed")) == 2


def test_early_commit_whose_answer_was_lost_is_not_applied_twice(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path / "d", 600)
    hub_server.seed_repo("alice/lost2", {"a.txt": "a"})
    before = len(_history(hub_server, "alice/lost2"))
    real = commit_mod.send_commit
    calls = {"n": 0}

    def applied_then_dropped(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        real(*args, **kwargs)
        raise NetworkError("POST 127.0.0.1: connection failed after 1 attempt(s).")

    monkeypatch.setattr(commit_mod, "send_commit", applied_then_dropped)
    res = upload(_client(hub_server), RepoRef("alice/lost2"), plan_upload(folder))
    assert calls["n"] == 1
    assert len(_history(hub_server, "alice/lost2")) == before + 1
    assert res.commit_oid == hub_server.head("alice/lost2")


def test_early_commit_keeps_the_callers_commit_size_bounds(hub_server: Any, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "d", 600)
    client = _client(hub_server)
    res = upload(client, RepoRef("alice/bounded"), plan_upload(folder), max_files_per_commit=250)
    assert len(res.commits) == 3
    _added_once(hub_server, "alice/bounded", {f"d{i % 7}/f{i:04d}.txt" for i in range(600)})


def test_early_commit_refused_as_too_large_goes_on_in_halves(
    hub_server_factory: Any, tmp_path: Path
) -> None:
    hub = hub_server_factory(limits=Limits(max_commit_ops=300))
    folder = _folder(tmp_path / "d", 700)
    said: list[str] = []
    res = upload(_client(hub), RepoRef("alice/huge"), plan_upload(folder), say=said.append)
    assert len(res.commits) == 4  # 700 refused -> 350 refused -> 175 + 175, twice
    posts = _commit_posts(hub)
    assert [q["status"] for q in posts].count(413) == 3  # the whole one once, each 350 once
    _added_once(hub, "alice/huge", {f"d{i % 7}/f{i:04d}.txt" for i in range(700)})
    assert any("two halves" in s for s in said)
