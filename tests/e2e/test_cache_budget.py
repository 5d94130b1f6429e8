"""End-to-end: `cache prune --max-size/--older-than --keep-locked` and HUBCLI_CACHE_MAX_SIZE,
with the real CLI downloading from the local hub over HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hubcli.cache.locks import FlockLock

DAY = 86400


def _env(hub: Any, cache: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache), **extra}


def _json(res: Any) -> Any:
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _age(cache: Path, repo: str, days: float) -> None:
    """Make hubcli's access record of every revision of ``repo`` ``days`` old."""
    folder = cache / ".locks" / ("models--" + repo.replace("/", "--")) / "access"
    records = list(folder.iterdir())
    assert records, f"no access record for {repo}"
    for rec in records:
        t = rec.stat().st_mtime - days * DAY
        os.utime(rec, (t, t))


def _du(run_cli: Any, env: dict[str, str]) -> int:
    return int(_json(run_cli("cache", "du", "--json", env=env))["size"])


def _fill(hub: Any, run_cli: Any, env: dict[str, str]) -> None:
    shared = b"tokenizer" * 100  # 900 bytes every repo carries
    for i, name in enumerate(("alice/a", "alice/b", "alice/c")):
        hub.seed_repo(name, {"tok.json": shared, "w.bin": bytes([i]) * (10_000 * (i + 1))})
        assert run_cli("download", name, "-q", env=env).returncode == 0


def test_prune_to_a_budget_keeps_locked_revisions_and_frees_what_du_predicted(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = _env(hub_server, cache)
    _fill(hub_server, run_cli, env)
    _age(cache, "alice/a", 30)  # oldest, but pinned by the project's lock
    _age(cache, "alice/b", 20)
    _age(cache, "alice/c", 10)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "hubcli.toml").write_text('[[repo]]\nid = "alice/a"\n')
    assert run_cli("lock", env=env, cwd=proj).returncode == 0
    before = _du(run_cli, env)
    assert before == 900 + 60_000  # the tokenizer is hardlinked across repos: counted once

    refused = run_cli("cache", "prune", "--max-size", "30M", "--dry-run", env=env)
    assert refused.returncode == 2 and "Ambiguous" in refused.stderr

    args = ("cache", "prune", "--max-size", "41kB", "--keep-locked", str(proj / "hubcli.lock"))
    plan = _json(run_cli(*args, "--dry-run", "--json", env=env))
    assert plan["dry_run"] is True
    budget = plan["budget"]
    assert [e["repo"] for e in budget["evicted"]] == ["alice/b"]  # a is pinned, b is next LRU
    assert budget["kept"][0]["repo"] == "alice/a"
    assert budget["size_before"] == before and budget["fits"]
    # exact about shared bytes: b's tokenizer stays linked from a and c, so only its weights go
    assert plan["bytes_freed"] == 20_000 == before - budget["size_after"]
    assert _du(run_cli, env) == before  # a dry run changes nothing

    text = run_cli(*args, "--dry-run", env=env)
    assert "would delete repo" in text.stdout and "alice/b" in text.stdout

    refused = run_cli(*args, env=env)  # not a terminal: --yes needed
    assert refused.returncode == 2

    done = _json(run_cli(*args, "--yes", "--json", env=env))
    assert done["bytes_freed"] == plan["bytes_freed"] and not done["skipped"]
    assert _du(run_cli, env) == before - plan["bytes_freed"]
    ls = _json(run_cli("cache", "ls", "--json", env=env))
    assert sorted(r["id"] for r in ls["rows"]) == ["alice/a", "alice/c"]

    # --older-than alone: everything unused for 5 days that is not pinned (c)
    old = _json(run_cli("cache", "prune", "--older-than", "5d", "--keep-locked",
                        str(proj / "hubcli.lock"), "--yes", "--json", env=env))  # fmt: skip
    assert [e["repo"] for e in old["budget"]["evicted"]] == ["alice/c"]
    assert old["bytes_freed"] == 30_000
    assert _du(run_cli, env) == 900 + 10_000


def test_prune_never_evicts_a_repo_a_running_download_holds(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = _env(hub_server, cache)
    _fill(hub_server, run_cli, env)
    lock = next((cache / ".locks" / "models--alice--b").glob("*.lock"))
    with FlockLock(lock, timeout=0):  # as a running download (hubcli's or hf's) holds it
        doc = _json(run_cli("cache", "prune", "--max-size", "0", "--yes", "--json", env=env))
    kept = {k["repo"]: k["reason"] for k in doc["budget"]["kept"]}
    assert kept == {"alice/b": "in use by a running download"}
    assert doc["budget"]["fits"] is False
    assert [r.name for r in cache.iterdir() if r.name.startswith("models--")] == [
        "models--alice--b"
    ]


def test_budget_after_each_download_evicts_only_long_unused_revisions(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = _env(hub_server, cache)
    _fill(hub_server, run_cli, env)
    _age(cache, "alice/a", 3)
    _age(cache, "alice/b", 2)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "hubcli.toml").write_text('[[repo]]\nid = "alice/b"\n')
    assert run_cli("lock", env=env, cwd=proj).returncode == 0
    hub_server.seed_repo("alice/d", {"w.bin": b"d" * 5000})
    budget = _env(
        hub_server,
        cache,
        HUBCLI_CACHE_MAX_SIZE="40kB",
        HUBCLI_CACHE_MIN_AGE="1d",
        HUBCLI_KEEP_LOCKED=str(proj / "hubcli.lock"),
    )
    res = run_cli("download", "alice/d", env=budget)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("snapshots/" + res.stdout.strip().split("/")[-1])
    names = sorted(r.name for r in cache.iterdir() if r.name.startswith("models--"))
    # a (3 days unused) goes; b is pinned; c was used today; d was just downloaded
    assert names == ["models--alice--b", "models--alice--c", "models--alice--d"]
    assert "over HUBCLI_CACHE_MAX_SIZE" in res.stderr  # 900+20000+30000+5000 > 40 kB: told why
    assert _du(run_cli, env) == 900 + 20_000 + 30_000 + 5000
