"""huggingface_hub is the judge: it loads what hubcli downloaded, and hubcli loads what it did."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.fixtures.hub import hf_environment, run_hf

FILES = {
    "config.json": b'{"model_type": "bert"}\n',
    "tok/vocab.txt": b"[PAD]\nhello\n",
    "model.safetensors": os.urandom(150_000),
}


def _tree(cache: Path) -> dict[str, str]:
    """Every entry under the cache, relative, with link targets / file bytes digests."""
    import hashlib

    out = {}
    for p in sorted(cache.rglob("*")):
        rel = p.relative_to(cache).as_posix()
        if rel.startswith(".locks") or rel == "CACHEDIR.TAG" or "/trees/" in rel:
            continue
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def test_hf_loads_hubcli_cache_offline(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = hub_server.seed_repo("alice/m", FILES)
    home = tmp_path / "hf"
    env = hf_environment(hub_server.url, home)
    res = run_cli(
        "download",
        "alice/m",
        env={"HF_HUB_CACHE": env["HF_HUB_CACHE"], "HF_ENDPOINT": hub_server.url},
    )
    assert res.returncode == 0, res
    snap = res.stdout.splitlines()[-1]
    hub_server.clear_requests()
    proc = run_hf(
        """
        import json, os
        from huggingface_hub import snapshot_download, hf_hub_download, scan_cache_dir
        p = snapshot_download("alice/m", local_files_only=True)
        files = {}
        for name in ["config.json", "tok/vocab.txt", "model.safetensors"]:
            f = hf_hub_download("alice/m", name, local_files_only=True)
            files[name] = open(f, "rb").read().hex()
        info = scan_cache_dir()
        repos = [(r.repo_id, r.nb_files, sorted(x.commit_hash for x in r.revisions),
                  sorted(sorted(x.refs) for x in r.revisions)) for r in info.repos]
        print(json.dumps({"path": p, "files": files, "warnings": [str(w) for w in info.warnings],
                          "repos": repos, "incomplete": len(info.incomplete_files)}))
        """,
        {**env, "HF_HUB_OFFLINE": "1"},
    )
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["path"] == snap
    assert {k: bytes.fromhex(v) for k, v in doc["files"].items()} == FILES
    assert doc["warnings"] == []
    assert doc["repos"] == [["alice/m", 3, [commit], [["main"]]]]
    assert doc["incomplete"] == 0
    assert hub_server.requests() == []


def test_hubcli_offline_reads_hf_cache(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = hub_server.seed_repo("alice/m", FILES)
    env = hf_environment(hub_server.url, tmp_path / "hf")
    run_hf('from huggingface_hub import snapshot_download; snapshot_download("alice/m")', env)
    hub_server.clear_requests()
    cli_env = {"HF_HUB_CACHE": env["HF_HUB_CACHE"], "HF_HUB_OFFLINE": "1"}
    res = run_cli("download", "alice/m", "--json", env=cli_env)
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert doc["commit"] == commit
    assert {f["status"] for f in doc["files"]} == {"cached"}
    for name, data in FILES.items():
        assert (Path(doc["path"]) / name).read_bytes() == data
    res = run_cli("download", "alice/m", "tok/vocab.txt", "-q", env=cli_env)
    assert Path(res.stdout.strip()).read_bytes() == FILES["tok/vocab.txt"]
    assert hub_server.requests() == []


def test_same_tree_as_hf(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = hub_server.seed_repo("alice/m", FILES)
    env = hf_environment(hub_server.url, tmp_path / "hf")
    run_hf('from huggingface_hub import snapshot_download; snapshot_download("alice/m")', env)
    ours = tmp_path / "ours"
    res = run_cli(
        "download", "alice/m", env={"HF_HUB_CACHE": str(ours), "HF_ENDPOINT": hub_server.url}
    )
    assert res.returncode == 0, res
    theirs = Path(env["HF_HUB_CACHE"])
    assert _tree(ours) == _tree(theirs)
    t1 = json.loads((ours / "models--alice--m" / "trees" / f"{commit}.json").read_text())
    t2 = json.loads((theirs / "models--alice--m" / "trees" / f"{commit}.json").read_text())
    assert t1 == t2


def test_local_dir_interop(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    hub_server.seed_repo("alice/m", FILES)
    out = tmp_path / "out"
    env = hf_environment(hub_server.url, tmp_path / "hf")
    res = run_cli(
        "download", "alice/m", "--local-dir", str(out), env={"HF_ENDPOINT": hub_server.url}
    )
    assert res.returncode == 0, res
    hub_server.clear_requests()
    run_hf(
        "from huggingface_hub import snapshot_download\n"
        f'snapshot_download("alice/m", local_dir={str(out)!r})',
        env,
    )
    fetched = [
        r
        for r in hub_server.requests()
        if r["method"] == "GET" and ("/resolve/" in r["path"] or r["origin"] == "cdn")
    ]
    assert fetched == []  # huggingface_hub trusted hubcli's metadata and skipped every file
    # And the other way round: hubcli skips what huggingface_hub put in a local dir.
    out2 = tmp_path / "out2"
    run_hf(
        "from huggingface_hub import snapshot_download\n"
        f'snapshot_download("alice/m", local_dir={str(out2)!r})',
        env,
    )
    hub_server.clear_requests()
    res = run_cli(
        "download",
        "alice/m",
        "--local-dir",
        str(out2),
        "--json",
        env={"HF_ENDPOINT": hub_server.url},
    )
    assert res.returncode == 0, res
    assert {f["status"] for f in json.loads(res.stdout)["files"]} == {"cached"}
    assert [r for r in hub_server.requests() if "/resolve/" in r["path"]] == []
