"""End-to-end: download/upload/repo semantics of issue 13 (nothing silent on nothing, check before
sending, a refused download leaves no trace, `repo refs`, `upload --dry-run`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILES = {
    "config.json": '{"a": 1}\n',
    "model.bin": "weights" * 50,
    "tokenizer/vocab.txt": "a\nb\n",
    "tokenizer/merges.txt": "a b\n",
}


def _env(hub: Any, cache: Path, token: str | None = None) -> dict[str, str]:
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache)}
    if token:
        env["HF_TOKEN"] = token
    return env


def _cache_files(cache: Path) -> list[str]:
    """Everything in the cache except lock files."""
    if not cache.exists():
        return []
    return sorted(
        p.relative_to(cache).as_posix()
        for p in cache.rglob("*")
        if ".locks" not in p.relative_to(cache).parts
    )


def _writes(hub: Any) -> list[dict[str, Any]]:
    return [r for r in hub.requests() if r["method"] in ("PUT", "POST", "DELETE")]


# -- item 3: a selection that matches nothing --------------------------------------------------
def test_include_matching_nothing_exits_4_and_names_the_pattern(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/m", FILES)
    cache = tmp_path / "c"
    env = _env(hub_server, cache)
    res = run_cli("download", "alice/m", "--include", "nomatch*", env=env)
    assert res.returncode == 4, res
    assert "nomatch*" in res.stderr and "config.json" in res.stderr
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1, res.stderr
    res = run_cli("download", "alice/m", "--exclude", "*", env=env)
    assert res.returncode == 4, res
    res = run_cli("download", "alice/m", "tokenizer/", "--include", "*.json", env=env)
    assert res.returncode == 4, res
    assert "*.json" in res.stderr
    assert not list(cache.glob("*/snapshots/*"))
    # the same from a cached listing (commit sha, nothing to ask the server)
    ok = run_cli("download", "alice/m", env=env)
    assert ok.returncode == 0, ok
    commit = hub_server.head("alice/m")
    res = run_cli("download", "alice/m", "--revision", commit, "--include", "x*", env=env)
    assert res.returncode == 4, res
    res = run_cli("download", "alice/m", "--include", "x*", "--offline", env=env)
    assert res.returncode == 4, res
    assert "x*" in res.stderr


def test_dry_run_prints_the_plan_not_a_path_it_did_not_create(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/m", FILES)
    cache = tmp_path / "c"
    env = _env(hub_server, cache)
    res = run_cli("download", "alice/m", "--dry-run", env=env)
    assert res.returncode == 0, res
    assert "config.json" in res.stdout
    assert str(cache) not in res.stdout
    assert not list(cache.glob("*/snapshots"))
    res = run_cli("download", "alice/m", "--dry-run", "--json", env=env)
    doc = json.loads(res.stdout)
    assert doc["dry_run"] is True and doc["path"] is None
    res = run_cli("download", "alice/m", "--dry-run", "-q", env=env)
    assert res.returncode == 0 and res.stdout == "", res
    res = run_cli("download", "alice/m", "--dry-run", "--include", "nomatch*", env=env)
    assert res.returncode == 4, res


def test_folder_named_without_slash_says_it_is_a_folder(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/m", FILES)
    cache = tmp_path / "c"
    res = run_cli("download", "alice/m", "tokenizer", env=_env(hub_server, cache))
    assert res.returncode == 4, res
    assert "folder" in res.stderr and "tokenizer/" in res.stderr
    assert not list(cache.rglob(".no_exist/*/tokenizer"))


# -- item 5: a refused download leaves no trace ------------------------------------------------
def test_refused_download_leaves_nothing_in_the_cache(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/gated", FILES, gated="manual")
    hub_server.seed_repo("alice/secret", FILES, private=True)
    cache = tmp_path / "c"
    for token in (None, hub_server.bob_token):
        res = run_cli("download", "alice/gated", env=_env(hub_server, cache, token))
        assert res.returncode == 3, res
        assert _cache_files(cache) == [], _cache_files(cache)
        res = run_cli("download", "alice/gated", "config.json", env=_env(hub_server, cache, token))
        assert res.returncode == 3, res
        assert _cache_files(cache) == [], _cache_files(cache)
    res = run_cli("download", "alice/secret", env=_env(hub_server, cache))
    assert res.returncode in (3, 4), res
    assert _cache_files(cache) == []
    ls = run_cli("cache", "ls", "-q", env=_env(hub_server, cache))
    assert "gated" not in ls.stdout and "secret" not in ls.stdout
    # granted: the same command now fills the cache
    hub_server.grant_access("alice/gated", "bob")
    res = run_cli("download", "alice/gated", env=_env(hub_server, cache, hub_server.bob_token))
    assert res.returncode == 0, res
    assert (Path(res.stdout.strip().splitlines()[-1]) / "tokenizer" / "vocab.txt").is_file()


# -- item 4: check before sending --------------------------------------------------------------
def test_upload_to_a_tag_or_commit_is_refused_before_hashing(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    commit = hub_server.seed_repo("alice/m", FILES)
    hub_server.create_tag("alice/m", "v1.0")
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "new.txt").write_text("new")
    env = _env(hub_server, tmp_path / "c", hub_server.alice_token)
    hub_server.clear_requests()
    for rev in ("v1.0", commit):
        res = run_cli("upload", "alice/m", str(folder), "--revision", rev, env=env)
        assert res.returncode == 2, res
        last = res.stderr.splitlines()[-1]
        assert ("tag" if rev == "v1.0" else "commit") in last, res.stderr
        assert "Traceback" not in res.stderr and "Hashing" not in res.stderr
    assert _writes(hub_server) == []
    assert hub_server.head("alice/m") == commit
    help_text = run_cli("upload", "--help", env=env).stdout
    flat = " ".join(help_text.replace("│", " ").split())
    assert "Branch, tag or commit" not in flat and "not a tag or commit" in flat, flat


def test_bare_repo_name_is_the_token_users_for_writes(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    env = _env(hub_server, tmp_path / "c", hub_server.alice_token)
    res = run_cli("upload", "mymodel", str(folder), env=env)
    assert res.returncode == 0, res
    assert "alice/mymodel" in res.stdout
    assert hub_server.read_file("alice/mymodel", "a.txt") == b"a"
    res = run_cli("repo", "create", "other", env=env)
    assert res.returncode == 0, res
    assert "alice/other" in res.stdout
    res = run_cli("repo", "branch", "create", "other", "dev", env=env)
    assert res.returncode == 0, res
    res = run_cli("repo", "tag", "create", "mymodel", "v1", env=env)
    assert res.returncode == 0, res
    assert hub_server.head("alice/other", "dev") is not None
    assert hub_server.head("alice/mymodel", "v1") is not None
    assert not any(r["path"].startswith("/api/models/mymodel") for r in hub_server.requests())
    # reads keep a bare id as is (legacy models like gpt2): no whoami, the id as typed
    hub_server.clear_requests()
    run_cli("download", "gpt2", "a.txt", env=env)
    paths = [r["path"] for r in hub_server.requests()]
    assert any(p.startswith("/api/models/gpt2") for p in paths), paths
    assert not any("whoami" in p for p in paths), paths


# -- repo refs and close refs ------------------------------------------------------------------
def test_repo_refs_and_unknown_revision_lists_close_refs(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    commit = hub_server.seed_repo("alice/m", FILES)
    hub_server.create_tag("alice/m", "v1.0")
    env = _env(hub_server, tmp_path / "c")
    res = run_cli("repo", "refs", "alice/m", "--json", env=env)
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert doc["branches"] == [{"name": "main", "ref": "refs/heads/main", "target_commit": commit}]
    assert doc["tags"] == [{"name": "v1.0", "ref": "refs/tags/v1.0", "target_commit": commit}]
    assert doc["pull_requests"] is None
    res = run_cli("repo", "refs", "alice/m", "--include-prs", "--json", env=env)
    assert json.loads(res.stdout)["pull_requests"] == []
    res = run_cli("repo", "refs", "alice/m", env=env)
    assert res.returncode == 0 and "v1.0" in res.stdout and "main" in res.stdout, res
    res = run_cli("download", "alice/m", "--revision", "v1.1", env=env)
    assert res.returncode == 4, res
    assert "v1.0" in res.stderr, res.stderr
    res = run_cli("download", "alice/m", "--revision", "mian", env=env)
    assert res.returncode == 4 and "main" in res.stderr, res


# -- upload --dry-run --------------------------------------------------------------------------
def test_upload_dry_run_reports_without_sending(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    commit = hub_server.seed_repo("alice/m", {"same.txt": "same", "old.txt": "old", "x.txt": "x"})
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "same.txt").write_text("same")
    (folder / "old.txt").write_text("changed!")
    (folder / "new.txt").write_text("brand new")
    env = _env(hub_server, tmp_path / "c", hub_server.alice_token)
    hub_server.clear_requests()
    res = run_cli(
        "upload", "alice/m", str(folder), "--delete", "x*", "--dry-run", "--json", env=env
    )
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    status = {f["path"]: f["status"] for f in doc["files"]}
    assert status == {
        "same.txt": "unchanged",
        "old.txt": "changed",
        "new.txt": "added",
        "x.txt": "deleted",
    }
    assert doc["dry_run"] is True and doc["bytes_to_send"] == len("changed!") + len("brand new")
    assert hub_server.head("alice/m") == commit
    sent = [r for r in _writes(hub_server) if "/preupload/" not in r["path"]]
    assert sent == [], sent
    res = run_cli("upload", "alice/m", str(folder), "--delete", "x*", "--dry-run", env=env)
    assert res.returncode == 0, res
    assert "added" in res.stdout and "new.txt" in res.stdout
    # a repo that does not exist yet is not created by a dry run
    res = run_cli("upload", "alice/fresh", str(folder), "--dry-run", "--json", env=env)
    assert res.returncode == 0, res
    assert {f["status"] for f in json.loads(res.stdout)["files"]} == {"added"}
    assert [r for r in _writes(hub_server) if "/preupload/" not in r["path"]] == []
