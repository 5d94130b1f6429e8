"""End-to-end: `cache move` of a cache filled by hubcli from the local hub; huggingface_hub then
loads the moved repos offline."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hubcli.cache.locks import FlockLock
from tests.fixtures.hub import hf_environment, run_hf

TOK = b"tokenizer" * 1000


def _manifest(cache: Path) -> dict[str, str]:
    """Every snapshot file of the cache (repo-relative) -> sha256 of what it reads as."""
    out = {}
    for snap in cache.glob("models--*/snapshots/*/**/*"):
        if snap.is_file():
            rel = snap.relative_to(cache).as_posix()
            out[rel] = hashlib.sha256(snap.read_bytes()).hexdigest()
    return out


def test_move_keeps_dedup_verifies_and_hf_loads_offline(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    src, dst = tmp_path / "src", tmp_path / "disk2" / "hub"
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(src)}
    hub_server.seed_repo("alice/a", {"tok.json": TOK, "w.bin": b"a" * 5000})
    hub_server.seed_repo("alice/b", {"tok.json": TOK, "sub/w.bin": b"b" * 7000})
    hub_server.seed_repo("alice/c", {"c.txt": "c"})
    for name in ("alice/a", "alice/b", "alice/c"):
        assert run_cli("download", name, "-q", env=env).returncode == 0
    before = _manifest(src)

    lock = next((src / ".locks" / "models--alice--c").glob("*.lock"))
    with FlockLock(lock, timeout=0):  # a running download in alice/c
        busy = run_cli("cache", "move", str(src), str(dst), "--repo", "alice/c", env=env)
    assert busy.returncode == 8 and "download is running" in busy.stderr
    assert not (dst / "models--alice--c").exists() and (src / "models--alice--c").exists()

    one = run_cli("cache", "move", str(src), str(dst), "--repo", "alice/c", "--json", env=env)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["repos"] == ["alice/c"]
    res = run_cli("cache", "move", str(src), str(dst), env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == f"export HF_HUB_CACHE={dst}"

    assert not list(src.glob("models--*"))
    assert not (dst / ".locks" / ".hubcli-move").exists()
    after = _manifest(dst)
    assert after == before  # byte-identical, same paths
    a_tok = next((dst / "models--alice--a" / "snapshots").glob("*/tok.json"))
    b_tok = next((dst / "models--alice--b" / "snapshots").glob("*/tok.json"))
    assert os.readlink(a_tok).startswith("../../blobs/")
    assert os.stat(a_tok).st_ino == os.stat(b_tok).st_ino  # dedup kept: one inode
    verify = run_cli("cache", "verify", "--cache-dir", str(dst), env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    hf_env = {**hf_environment(hub_server.url, tmp_path / "hfhome"), "HF_HUB_CACHE": str(dst)}
    hf_env["HF_HUB_OFFLINE"] = "1"
    out = run_hf(
        """
        from huggingface_hub import hf_hub_download, snapshot_download, scan_cache_dir
        p = snapshot_download('alice/b')
        print(open(p + '/sub/w.bin', 'rb').read() == b'b' * 7000)
        print(open(hf_hub_download('alice/a', 'w.bin'), 'rb').read() == b'a' * 5000)
        info = scan_cache_dir()
        print(sorted(r.repo_id for r in info.repos), len(info.warnings))
        """,
        hf_env,
    )
    assert out.stdout.split() == ["True", "True", "['alice/a',", "'alice/b',", "'alice/c']", "0"]
