"""Interop: hubcli's cache view agrees with huggingface_hub's scan_cache_dir, before and after a
bundle moves the repos to another cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures.hub import hf_environment, run_hf

HF_SCAN = """
import json
from huggingface_hub import scan_cache_dir
info = scan_cache_dir()
out = {"warnings": [str(w) for w in info.warnings], "repos": {}}
for r in info.repos:
    out["repos"][f"{r.repo_type}/{r.repo_id}"] = {
        "size": r.size_on_disk, "files": r.nb_files,
        "revisions": {v.commit_hash: {"refs": sorted(v.refs), "files": v.nb_files,
                                      "size": v.size_on_disk} for v in r.revisions},
    }
print(json.dumps(out))
"""


def _hf_scan(env: dict[str, str]) -> dict[str, Any]:
    proc = run_hf(HF_SCAN, env)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _ours(run_cli: Any, env: dict[str, str]) -> dict[str, Any]:
    res = run_cli("cache", "ls", "--revisions", "--json", env=env)
    assert res.returncode == 0, res
    repos: dict[str, Any] = {}
    for row in json.loads(res.stdout)["rows"]:
        key = f"{row['repo_type']}/{row['repo_id']}"
        repos.setdefault(key, {})[row["revision"]] = {
            "refs": sorted(row["refs"]),
            "files": row["files"],
            "size": row["size"],
        }
    res = run_cli("cache", "ls", "--json", env=env)
    sizes = {
        f"{r['repo_type']}/{r['repo_id']}": (r["size"], r["files"])
        for r in json.loads(res.stdout)["rows"]
    }
    return {"revisions": repos, "sizes": sizes}


def _compare(hf: dict[str, Any], ours: dict[str, Any]) -> None:
    assert set(hf["repos"]) == set(ours["sizes"])
    for key, repo in hf["repos"].items():
        assert ours["sizes"][key] == (repo["size"], repo["files"]), key
        assert ours["revisions"][key] == repo["revisions"], key


def test_scan_matches_huggingface_hub_and_survives_bundle(
    hub_server: Any, tmp_path: Path, run_cli: Any
) -> None:
    c1 = hub_server.seed_repo("alice/m", {"config.json": "{}", "w.safetensors": b"\x00" * 2048})
    hub_server.seed_repo("alice/m", {"w.safetensors": b"\x01" * 2048}, tags=["v1"])
    hub_server.seed_repo("alice/d", {"data/train.csv": "a,b\n1,2\n"}, repo_type="dataset")
    env = hf_environment(hub_server.url, tmp_path / "src")
    run_hf(
        f"""
        from huggingface_hub import snapshot_download as s
        s('alice/m', revision='{c1}'); s('alice/m'); s('alice/m', revision='v1')
        s('alice/d', repo_type='dataset')
        """,
        env,
    )
    hf = _hf_scan(env)
    assert hf["warnings"] == []
    _compare(hf, _ours(run_cli, env))

    bundle = tmp_path / "all.tar"
    exp = run_cli("cache", "export", "alice/m", "datasets/alice/d", "-o", str(bundle), env=env)
    assert exp.returncode == 0, exp
    env2 = hf_environment(hub_server.url, tmp_path / "dst")
    imp = run_cli("cache", "import", str(bundle), env=env2)
    assert imp.returncode == 0, imp
    hf2 = _hf_scan(env2)
    assert hf2["warnings"] == []
    assert hf2["repos"] == hf["repos"]
    _compare(hf2, _ours(run_cli, env2))
    offline = dict(env2, HF_HUB_OFFLINE="1")
    proc = run_hf(
        """
        from huggingface_hub import hf_hub_download
        print(open(hf_hub_download('alice/d', 'data/train.csv', repo_type='dataset')).read())
        print(len(open(hf_hub_download('alice/m', 'w.safetensors', revision='v1'), 'rb').read()))
        """,
        offline,
    )
    assert "a,b" in proc.stdout and "2048" in proc.stdout
