"""`hubcli download` end to end against the local hub: layout, requests, modes, dedup, offline."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

CONFIG = b'{"model_type": "bert", "hidden_size": 8}\n'
VOCAB = b"[PAD]\n[UNK]\nhello\nworld\n"
WEIGHTS = os.urandom(300_000)  # *.safetensors -> LFS on the test hub (302 to the CDN)


def seed(hub: Any, repo_id: str = "alice/tiny", **kw: Any) -> str:
    files = {"config.json": CONFIG, "tok/vocab.txt": VOCAB, "model.safetensors": WEIGHTS}
    files.update(kw.pop("extra", {}))
    return str(hub.seed_repo(repo_id, files, **kw))


def env_for(hub: Any, cache: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache), **extra}


def resolve_gets(hub: Any) -> list[dict[str, Any]]:
    """File-content requests (resolve or CDN), not metadata."""
    return [
        r
        for r in hub.requests()
        if r["method"] == "GET" and ("/resolve/" in r["path"] or r["path"].startswith("/_cdn/"))
    ]


def test_download_whole_repo_layout(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = seed(hub_server)
    cache = tmp_path / "cache"
    res = run_cli("download", "alice/tiny", env=env_for(hub_server, cache))
    assert res.returncode == 0, res.stderr
    repo = cache / "models--alice--tiny"
    snap = repo / "snapshots" / commit
    assert res.stdout.strip().splitlines()[-1] == str(snap)
    assert (snap / "config.json").read_bytes() == CONFIG
    assert (snap / "tok" / "vocab.txt").read_bytes() == VOCAB
    assert (snap / "model.safetensors").read_bytes() == WEIGHTS
    # refs/main: exactly the 40-hex commit, no newline.
    assert (repo / "refs" / "main").read_bytes() == commit.encode()
    # Relative links into blobs/, blobs named by etag (sha256 for LFS, git sha1 otherwise).
    link = os.readlink(snap / "tok" / "vocab.txt")
    assert link.startswith("../../../blobs/")
    import hashlib

    assert os.readlink(snap / "model.safetensors") == (
        "../../blobs/" + hashlib.sha256(WEIGHTS).hexdigest()
    )
    git_sha = hashlib.sha1(b"blob %d\0" % len(CONFIG) + CONFIG).hexdigest()
    assert (repo / "blobs" / git_sha).read_bytes() == CONFIG
    tree = json.loads((repo / "trees" / f"{commit}.json").read_text())
    assert tree["format_version"] == 1
    assert tree["files"]["model.safetensors"]["lfs_sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
    assert not list(repo.glob("blobs/*.incomplete"))
    assert (cache / ".locks" / "models--alice--tiny").is_dir()


def test_lfs_redirect_followed_without_token(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    seed(hub_server, private=True)
    env = env_for(hub_server, tmp_path / "c", HF_TOKEN=hub_server.alice_token)
    res = run_cli("download", "alice/tiny", "model.safetensors", env=env)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.splitlines()[-1]).read_bytes() == WEIGHTS
    reqs = hub_server.requests()
    api = [r for r in reqs if r["origin"] == "api"]
    cdn = [r for r in reqs if r["origin"] == "cdn"]
    assert api and all(r["auth"] for r in api)
    assert cdn and not any(r["auth"] for r in cdn)


def test_single_file_json_and_quiet(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = seed(hub_server)
    env = env_for(hub_server, tmp_path / "c")
    res = run_cli("download", "alice/tiny", "tok/vocab.txt", "--json", env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["repo_id"] == "alice/tiny" and doc["repo_type"] == "model"
    assert doc["commit"] == commit and doc["schema_version"] == 1
    assert doc["revision"] == "main"
    assert doc["path"].endswith(f"snapshots/{commit}/tok/vocab.txt")
    assert [(f["path"], f["status"], f["size"]) for f in doc["files"]] == [
        ("tok/vocab.txt", "downloaded", len(VOCAB))
    ]
    res = run_cli("download", "alice/tiny", "tok/vocab.txt", "-q", env=env)
    assert res.returncode == 0
    assert res.stdout.splitlines() == [doc["path"]]
    assert res.stderr == ""


def test_rerun_costs_one_request_for_branch_zero_for_commit(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    commit = seed(hub_server)
    env = env_for(hub_server, tmp_path / "c")
    assert run_cli("download", "alice/tiny", env=env).returncode == 0
    hub_server.clear_requests()
    res = run_cli("download", "alice/tiny", "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert {f["status"] for f in json.loads(res.stdout)["files"]} == {"cached"}
    assert len(hub_server.requests()) == 1
    hub_server.clear_requests()
    res = run_cli("download", "alice/tiny", "--revision", commit, env=env)
    assert res.returncode == 0, res.stderr
    assert hub_server.requests() == []
    assert res.stdout.splitlines()[-1].endswith(commit)


def test_dry_run_fetches_and_writes_nothing(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    seed(hub_server)
    cache = tmp_path / "c"
    env = env_for(hub_server, cache)
    assert run_cli("download", "alice/tiny", "config.json", env=env).returncode == 0
    hub_server.clear_requests()
    res = run_cli("download", "alice/tiny", "--dry-run", env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    status = {line.split()[-1]: line.split()[0] for line in lines[:-1]}
    assert status == {
        "config.json": "cached",
        "model.safetensors": "would_download",
        "tok/vocab.txt": "would_download",
    }
    assert "3 files" in lines[-1]  # the plan, no path line: nothing was created
    assert resolve_gets(hub_server) == []
    assert len(list((cache / "models--alice--tiny" / "blobs").iterdir())) == 1


def test_include_exclude(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    seed(hub_server, extra={"tok/merges.txt": b"a b\n", "README.md": b"# hi\n"})
    env = env_for(hub_server, tmp_path / "c")
    res = run_cli(
        "download", "alice/tiny", "--include", "tok/*", "--include", "*.json",
        "--exclude", "*merges*", "--json", env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert [f["path"] for f in json.loads(res.stdout)["files"]] == [
        "config.json",
        "tok/vocab.txt",
    ]


def test_local_dir_real_files_and_metadata(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = seed(hub_server)
    out = tmp_path / "out"
    env = env_for(hub_server, tmp_path / "c")
    res = run_cli("download", "alice/tiny", "--local-dir", str(out), env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == str(out)
    assert not (out / "model.safetensors").is_symlink()
    assert (out / "model.safetensors").read_bytes() == WEIGHTS
    assert (out / "tok" / "vocab.txt").read_bytes() == VOCAB
    meta = (out / ".cache/huggingface/download/tok/vocab.txt.metadata").read_text().split("\n")
    import hashlib

    assert meta[0] == commit
    assert meta[1] == hashlib.sha1(b"blob %d\0" % len(VOCAB) + VOCAB).hexdigest()
    assert float(meta[2]) > 0 and meta[3] == ""
    assert (out / ".cache/huggingface/.gitignore").read_text() == "*"
    assert (out / ".cache/huggingface/trees" / f"{commit}.json").is_file()
    assert not (tmp_path / "c" / "models--alice--tiny").exists()  # main cache untouched
    hub_server.clear_requests()
    res = run_cli("download", "alice/tiny", "--local-dir", str(out), "--json", env=env)
    assert {f["status"] for f in json.loads(res.stdout)["files"]} == {"cached"}
    assert resolve_gets(hub_server) == []
    # A modified local file is detected (mtime newer than metadata) and fetched again.
    (out / "config.json").write_bytes(b"changed")
    later = (out / "config.json").stat().st_mtime + 10
    os.utime(out / "config.json", (later, later))
    res = run_cli("download", "alice/tiny", "--local-dir", str(out), "--json", env=env)
    statuses = {f["path"]: f["status"] for f in json.loads(res.stdout)["files"]}
    assert statuses["config.json"] == "downloaded"
    assert (out / "config.json").read_bytes() == CONFIG


def test_cross_repo_dedup_hardlinks(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    seed(hub_server, "alice/base")
    seed(hub_server, "bob/finetune", extra={"adapter.json": b"{}"}, owner="bob")
    cache = tmp_path / "c"
    env = env_for(hub_server, cache)
    assert run_cli("download", "alice/base", env=env).returncode == 0
    hub_server.clear_requests()
    res = run_cli("download", "bob/finetune", "--json", env=env)
    assert res.returncode == 0, res.stderr
    statuses = {f["path"]: f["status"] for f in json.loads(res.stdout)["files"]}
    assert statuses == {
        "adapter.json": "downloaded",
        "config.json": "deduplicated",
        "model.safetensors": "deduplicated",
        "tok/vocab.txt": "deduplicated",
    }
    fetched = [r["path"] for r in resolve_gets(hub_server)]
    assert len(fetched) == 1 and fetched[0].endswith("/adapter.json")
    import hashlib

    sha = hashlib.sha256(WEIGHTS).hexdigest()
    a = (cache / "models--alice--base" / "blobs" / sha).stat()
    b = (cache / "models--bob--finetune" / "blobs" / sha).stat()
    assert (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def test_offline_from_cache_and_missing(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = seed(hub_server)
    cache = tmp_path / "c"
    env = env_for(hub_server, cache)
    assert run_cli("download", "alice/tiny", "config.json", env=env).returncode == 0
    hub_server.clear_requests()
    res = run_cli("--offline", "download", "alice/tiny", "config.json", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1].endswith(f"{commit}/config.json")
    res = run_cli("download", "alice/tiny", env={**env, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 7
    assert "model.safetensors" in res.stderr and "tok/vocab.txt" in res.stderr
    res = run_cli("download", "alice/other", "--offline", env=env)
    assert res.returncode == 7
    assert hub_server.requests() == []


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mirror_failover(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = seed(hub_server)
    dead = f"http://127.0.0.1:{_dead_port()}"
    env = {"HF_ENDPOINT": dead, "HF_HUB_CACHE": str(tmp_path / "c")}
    res = run_cli("download", "alice/tiny", "--mirror", hub_server.url, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"served by mirror {hub_server.url}" in res.stderr
    assert res.stdout.splitlines()[-1].endswith(commit)
    # HUBCLI_MIRRORS (comma-separated), through the library with a short backoff.
    from hubcli.config import resolve_settings
    from hubcli.download.engine import download
    from hubcli.http import HubSession
    from hubcli.repo import parse_repo_ref

    env = {"HF_ENDPOINT": dead, "HUBCLI_MIRRORS": f" ,{hub_server.url}"}
    settings = resolve_settings(cache_dir=tmp_path / "c2", env=env)
    with HubSession(settings, backoff_base=0.01) as session:
        result = download(settings, session, parse_repo_ref("alice/tiny"))
    assert result.served_by == (hub_server.url,)
    assert (result.path / "config.json").read_bytes() == CONFIG


def test_dataset_type_and_hf_uri(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    hub_server.seed_repo("alice/ds", {"data/train.csv": "a,b\n1,2\n"}, repo_type="dataset")
    cache = tmp_path / "c"
    env = env_for(hub_server, cache)
    res = run_cli("download", "alice/ds", "--type", "dataset", "-q", env=env)
    assert res.returncode == 0, res.stderr
    assert "datasets--alice--ds" in res.stdout
    res = run_cli("download", "hf://datasets/alice/ds/data/train.csv", "-q", env=env)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).read_text() == "a,b\n1,2\n"
