"""`hubcli sync` end to end against the local hub: frozen/offline/locked modes, verification
against the lock's sha256, stamps, refs, trees, local-dir targets, and offline loading by
huggingface_hub afterwards."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hubcli.globs import filter_paths
from hubcli.hashing import Sha256
from hubcli.hub import Hub
from hubcli.lock.lockfile import LOCK_VERSION, LockedFile, LockedRepo, LockFile, write_lock
from hubcli.repo import RepoRef
from tests.fixtures.hub import run_hf

CONFIG = b'{"model_type": "bert", "hidden_size": 8}\n'
VOCAB = b"[PAD]\n[UNK]\nhello\nworld\n"
INPUT_HASH = "sha256:" + "0" * 64


def weights(seed: int = 0) -> bytes:
    return hashlib.sha256(b"w%d" % seed).digest() * 4000  # 128 KB -> LFS (*.safetensors)


def seed(hub: Any, repo_id: str = "alice/tiny", **kw: Any) -> str:
    files = {"config.json": CONFIG, "tok/vocab.txt": VOCAB, "model.safetensors": weights()}
    files.update(kw.pop("extra", {}))
    return str(hub.seed_repo(repo_id, files, **kw))


def locked_repo(
    hub: Any,
    repo_id: str,
    *,
    revision: str = "main",
    repo_type: str = "model",
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    local_dir: str | None = None,
) -> LockedRepo:
    """What `hubcli lock` would write for one repo, built from the hub's own listing."""
    with Hub(endpoint=hub.url, token=hub.alice_token, cache_dir="/nonexistent") as h:
        info = h.info(RepoRef(repo_id, repo_type), revision=revision)  # type: ignore[arg-type]
    assert info.sha is not None
    entries = filter_paths(list(info.files), include=include, exclude=exclude, key=lambda e: e.path)
    files = []
    for e in entries:
        data = hub.read_file(repo_id, e.path, info.sha, repo_type=repo_type)
        assert e.blob_id is not None
        files.append(
            LockedFile(
                e.path, e.size, Sha256(hashlib.sha256(data).hexdigest()), e.blob_id, e.is_lfs
            )
        )
    hub.clear_requests()  # the tests count what sync asks, not this helper
    return LockedRepo(
        repo_id,
        repo_type,  # type: ignore[arg-type]
        revision,
        info.sha,  # type: ignore[arg-type]
        include,
        exclude,
        local_dir,
        tuple(sorted(files, key=lambda f: f.path)),
    )


def write(project: Path, *repos: LockedRepo) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    path = project / "hubcli.lock"
    write_lock(path, LockFile(LOCK_VERSION, INPUT_HASH, tuple(repos)))
    return path


def env_for(hub: Any, cache: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache), **extra}


def file_gets(hub: Any) -> list[str]:
    return [
        r["path"]
        for r in hub.requests()
        if r["method"] == "GET" and ("/resolve/" in r["path"] or r["path"].startswith("/_cdn/"))
    ]


def sync(run_cli: Any, project: Path, env: dict[str, str], *args: str) -> Any:
    return run_cli("sync", *args, "--json", env=env, cwd=project)


def test_frozen_sync_layout_then_offline_load(
    hub_server: Any, run_cli: Any, tmp_path: Path, hf_env: dict[str, str]
) -> None:
    commit = seed(hub_server)
    seed(hub_server, "alice/big", extra={"other.bin": b"x" * 100})
    project = tmp_path / "proj"
    write(
        project,
        locked_repo(hub_server, "alice/tiny"),
        locked_repo(hub_server, "alice/big", include=("*.json", "*.safetensors")),
    )
    cache = tmp_path / "cache"
    res = sync(
        run_cli, project, env_for(hub_server, cache, HF_TOKEN=hub_server.alice_token), "--frozen"
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == 1 and doc["frozen"] is True
    assert doc["files"] == 5 and doc["downloaded"] + doc["deduplicated"] == 5
    tiny = next(r for r in doc["repos"] if r["repo_id"] == "alice/tiny")
    assert tiny["ref"] == "main" and tiny["ref_status"] == "written"
    repo = cache / "models--alice--tiny"
    snap = repo / "snapshots" / commit
    assert tiny["path"] == str(snap)
    assert (snap / "model.safetensors").read_bytes() == weights()
    assert (repo / "refs" / "main").read_bytes() == commit.encode()
    tree = json.loads((repo / "trees" / f"{commit}.json").read_text())
    assert set(tree["files"]) == {"config.json", "tok/vocab.txt", "model.safetensors"}
    # every request for a file names the commit, never the branch
    pinned = [f"/resolve/{c}/" for c in (commit, hub_server.head("alice/big"))]
    gets = file_gets(hub_server)
    assert gets and all(any(x in p for x in pinned) or p.startswith("/_cdn/") for p in gets)
    big_tree = json.loads(
        (
            cache / "models--alice--big" / "trees" / f"{hub_server.head('alice/big')}.json"
        ).read_text()
    )
    assert "other.bin" in big_tree["files"]  # the full listing, for IncompleteSnapshotError

    env = dict(hf_env, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    out = run_hf(
        f"""
        from huggingface_hub import snapshot_download, hf_hub_download
        from huggingface_hub.errors import IncompleteSnapshotError
        p = snapshot_download("alice/tiny")
        assert p.endswith("{commit}"), p
        assert snapshot_download("alice/tiny", revision="{commit}") == p
        print(open(hf_hub_download("alice/tiny", "config.json"), "rb").read().decode().strip())
        snapshot_download("alice/big", allow_patterns=["*.json", "*.safetensors"])
        try:
            snapshot_download("alice/big")
        except IncompleteSnapshotError:
            print("incomplete")
        """,
        env,
    )
    assert out.stdout.splitlines() == [CONFIG.decode().strip(), "incomplete"]


def test_branch_moving_upstream_does_not_change_frozen_sync(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    old = seed(hub_server)
    project = tmp_path / "proj"
    write(project, locked_repo(hub_server, "alice/tiny"))
    new = hub_server.seed_repo("alice/tiny", {"model.safetensors": weights(1)})
    assert new != old
    cache = tmp_path / "cache"
    res = sync(run_cli, project, env_for(hub_server, cache), "--frozen")
    assert res.returncode == 0, res.stderr
    snap = cache / "models--alice--tiny" / "snapshots" / old
    assert (snap / "model.safetensors").read_bytes() == weights()
    assert not (cache / "models--alice--tiny" / "snapshots" / new).exists()
    assert (cache / "models--alice--tiny" / "refs" / "main").read_text() == old
    assert not any("/revision/" in r["path"] for r in hub_server.requests())  # no ref resolved


def test_warm_frozen_sync_makes_no_request_and_needs_no_token(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    seed(hub_server, "alice/private", private=True)
    seed(hub_server, "alice/gated", gated=True)
    hub_server.grant_access("alice/gated", "alice")
    project = tmp_path / "proj"
    write(project, locked_repo(hub_server, "alice/private"), locked_repo(hub_server, "alice/gated"))
    cache = tmp_path / "cache"
    cold = sync(
        run_cli, project, env_for(hub_server, cache, HF_TOKEN=hub_server.alice_token), "--frozen"
    )
    assert cold.returncode == 0, cold.stderr
    hub_server.clear_requests()
    warm = sync(run_cli, project, env_for(hub_server, cache), "--frozen")  # no token at all
    assert warm.returncode == 0, warm.stderr
    doc = json.loads(warm.stdout)
    assert doc["cached"] == 6 and doc["downloaded"] == 0 and doc["hashed"] == 0
    assert hub_server.requests() == []
    # the same without a token and without a cache: refused by the hub (exit 3)
    denied = sync(run_cli, project, env_for(hub_server, tmp_path / "cold"), "--frozen")
    assert denied.returncode == 3, denied.stderr


def test_tampered_blob_is_exit_6_and_stamps_notice_a_rewrite(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    seed(hub_server)
    project = tmp_path / "proj"
    lock = locked_repo(hub_server, "alice/tiny")
    write(project, lock)
    cache = tmp_path / "cache"
    env = env_for(hub_server, cache)
    assert sync(run_cli, project, env, "--frozen").returncode == 0
    lfs = next(f for f in lock.files if f.lfs)
    blob = cache / "models--alice--tiny" / "blobs" / lfs.sha256
    data = bytearray(blob.read_bytes())
    data[100] ^= 1
    st = blob.stat()
    blob.write_bytes(bytes(data))  # same size, same inode; ctime moves
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    hub_server.clear_requests()
    res = run_cli("sync", "--frozen", env=env, cwd=project)
    assert res.returncode == 6, res
    assert "does not match the lock" in res.stderr
    assert hub_server.requests() == []
    # --offline too; and --verify re-hashes everything
    assert run_cli("sync", "--frozen", "--offline", env=env, cwd=project).returncode == 6
    blob.write_bytes(lfs_bytes := weights())
    assert hashlib.sha256(lfs_bytes).hexdigest() == lfs.sha256
    ok = sync(run_cli, project, env, "--frozen")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["hashed"] == 1  # only the rewritten file was hashed again
    again = json.loads(sync(run_cli, project, env, "--frozen", "--verify").stdout)
    assert again["hashed"] == 3 and again["verified"] == 3


@pytest.mark.parametrize("which", ["lfs", "regular"])
def test_server_bytes_not_matching_the_lock_are_exit_6_and_never_visible(
    hub_server: Any, run_cli: Any, tmp_path: Path, which: str
) -> None:
    seed(hub_server)
    project = tmp_path / "proj"
    lock = locked_repo(hub_server, "alice/tiny")
    target = "model.safetensors" if which == "lfs" else "config.json"
    bad = Sha256(hashlib.sha256(b"other bytes").hexdigest())
    files = tuple(replace(f, sha256=bad) if f.path == target else f for f in lock.files)
    write(project, replace(lock, files=files))
    cache = tmp_path / "cache"
    res = run_cli("sync", "--frozen", env=env_for(hub_server, cache), cwd=project)
    assert res.returncode == 6, res
    repo = cache / "models--alice--tiny"
    snap = repo / "snapshots" / lock.commit
    assert not (snap / target).exists()
    blobs = {p.name for p in (repo / "blobs").iterdir()} if (repo / "blobs").exists() else set()
    wrong = next(f for f in lock.files if f.path == target)
    assert (wrong.sha256 if wrong.lfs else wrong.blob_id) not in blobs
    assert bad not in blobs
    assert not any(n.endswith(".incomplete") for n in blobs)


def test_offline_miss_is_exit_7_naming_the_files(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    seed(hub_server)
    project = tmp_path / "proj"
    write(project, locked_repo(hub_server, "alice/tiny"))
    cache = tmp_path / "cache"
    env = env_for(hub_server, cache)
    res = run_cli("sync", "--frozen", "--offline", env=env, cwd=project)
    assert res.returncode == 7, res
    assert "model.safetensors" in res.stderr and "tok/vocab.txt" in res.stderr
    assert hub_server.requests() == []
    assert run_cli("sync", "--frozen", env=env, cwd=project).returncode == 0
    hub_server.clear_requests()
    ok = run_cli("--offline", "sync", "--frozen", env=env, cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert hub_server.requests() == []


def test_refs_kept_when_they_point_elsewhere_unless_write_refs(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    seed(hub_server)
    project = tmp_path / "proj"
    write(project, locked_repo(hub_server, "alice/tiny"))
    cache = tmp_path / "cache"
    env = env_for(hub_server, cache)
    ref = cache / "models--alice--tiny" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    other = "f" * 40
    ref.write_text(other)
    res = sync(run_cli, project, env, "--frozen")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["repos"][0]["ref_status"] == "kept"
    assert ref.read_text() == other
    res = sync(run_cli, project, env, "--frozen", "--write-refs")
    assert json.loads(res.stdout)["repos"][0]["ref_status"] == "written"
    assert ref.read_text() == hub_server.head("alice/tiny")


def test_local_dir_removes_only_files_it_placed(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    seed(hub_server, extra={"extra.txt": b"extra\n"})
    project = tmp_path / "proj"
    full = locked_repo(hub_server, "alice/tiny", local_dir="models/tiny")
    write(project, full)
    env = env_for(hub_server, tmp_path / "cache")
    res = sync(run_cli, project, env, "--frozen")
    assert res.returncode == 0, res.stderr
    target = project / "models" / "tiny"
    assert (target / "tok" / "vocab.txt").read_bytes() == VOCAB
    assert not (target / "tok" / "vocab.txt").is_symlink()
    (target / "mine.txt").write_text("user file")
    # the entry now excludes tok/ and extra.txt: sync removes those it placed, not mine.txt
    narrowed = replace(
        full,
        exclude=("tok/*", "extra.txt"),
        files=tuple(f for f in full.files if f.path not in ("tok/vocab.txt", "extra.txt")),
    )
    write(project, narrowed)
    res = sync(run_cli, project, env, "--frozen")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["repos"][0]["removed"] == ["extra.txt", "tok/vocab.txt"]
    assert not (target / "tok").exists()
    assert not (target / "extra.txt").exists()
    assert (target / "mine.txt").read_text() == "user file"
    assert (target / "config.json").read_bytes() == CONFIG
    # a placed file the user changed is kept (and reported) when it leaves the lock
    (target / "config.json").write_bytes(b"{}")
    write(project, replace(narrowed, files=tuple(f for f in narrowed.files if f.lfs)))
    res = sync(run_cli, project, env, "--frozen")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["repos"][0]["kept_modified"] == ["config.json"]
    assert (target / "config.json").read_bytes() == b"{}"


def test_plain_sync_locks_then_locked_fails_after_the_input_changes(
    hub_server: Any, run_cli: Any, tmp_path: Path, hf_env: dict[str, str]
) -> None:
    commit = seed(hub_server)
    project = tmp_path / "proj"
    project.mkdir()
    toml = project / "hubcli.toml"
    toml.write_text('# models this project needs\n[[repo]]\nid = "alice/tiny"\n')
    cache = tmp_path / "cache"
    env = env_for(hub_server, cache)
    res = sync(run_cli, project, env)  # no lock yet: plain sync locks first
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["relocked"] is True and doc["files"] == 3
    assert f'commit = "{commit}"' in (project / "hubcli.lock").read_text()
    assert sync(run_cli, project, env, "--locked").returncode == 0
    # the input changes: --locked refuses (exit 9) without a request; plain sync re-locks
    toml.write_text(toml.read_text() + 'include = ["*.json"]\n')
    hub_server.clear_requests()
    res = run_cli("sync", "--locked", env=env, cwd=project)
    assert res.returncode == 9, res
    assert "out of date" in res.stderr
    assert hub_server.requests() == []
    res = run_cli("sync", "--locked", "--json", env=env, cwd=project)
    assert json.loads(res.stderr)["error"]["exit_code"] == 9
    res = sync(run_cli, project, env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["relocked"] is True
    assert sync(run_cli, project, env, "--locked").returncode == 0
    # offline, with HF_HUB_OFFLINE=1, huggingface_hub loads it by sha and by branch
    run_hf(
        f"""
        from huggingface_hub import snapshot_download
        a = snapshot_download("alice/tiny", allow_patterns=["*.json"])
        b = snapshot_download("alice/tiny", revision="{commit}", allow_patterns=["*.json"])
        assert a == b and a.endswith("{commit}"), (a, b)
        """,
        dict(hf_env, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1"),
    )


def test_deny_refuses_before_downloading(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    seed(hub_server, extra={"pytorch_model.bin": b"\x80\x04K\x01."})
    project = tmp_path / "proj"
    lock = locked_repo(hub_server, "alice/tiny")
    files = tuple(
        replace(f, kinds=("pickle",)) if f.path == "pytorch_model.bin" else f for f in lock.files
    )
    write(project, replace(lock, files=files))
    cache = tmp_path / "cache"
    res = run_cli(
        "sync", "--frozen", "--deny", "pickle", env=env_for(hub_server, cache), cwd=project
    )
    assert res.returncode == 2, res
    assert "pytorch_model.bin" in res.stderr
    assert hub_server.requests() == [] and not cache.exists()
    ok = run_cli(
        "sync", "--frozen", "--deny", "remote-code", env=env_for(hub_server, cache), cwd=project
    )
    assert ok.returncode == 0, ok.stderr


def test_warm_frozen_sync_loads_no_http_stack(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    """Zero requests also means zero cost: a warm `sync --frozen` never imports requests."""
    import subprocess
    import sys

    seed(hub_server)
    project = tmp_path / "proj"
    write(project, locked_repo(hub_server, "alice/tiny"))
    env = dict(os.environ, **env_for(hub_server, tmp_path / "cache"))
    assert (
        sync(run_cli, project, env_for(hub_server, tmp_path / "cache"), "--frozen").returncode == 0
    )
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('HEAVY', sorted(m for m in ('requests', 'urllib3',"
        " 'hubcli.http') if m in sys.modules), file=sys.stderr))\n"
        "from hubcli.cli.app import main\n"
        "sys.argv = ['hubcli', 'sync', '--frozen', '-q']\n"
        "main()\n"
    )
    warm = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=project, capture_output=True, text=True
    )
    assert warm.returncode == 0, warm.stderr
    assert "HEAVY []" in warm.stderr, warm.stderr
