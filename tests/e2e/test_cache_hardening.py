"""End-to-end: poisoned caches and malicious bundles through the CLI, and huggingface_hub 2.x
caches (shared blob store, no-symlink mode) that must stay healthy."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

from tests.e2e.test_cache_cli import CONFIG, WEIGHTS_V2, Cached, _offline_load, cached
from tests.fixtures.bundles import listing, members_of, write_bundle
from tests.fixtures.hub import hf_environment, run_hf

__all__ = ["cached"]  # the fixture, shared with test_cache_cli
SECRET = b"not for the bundle\n"


def _resolve_gets(c: Cached) -> list[str]:
    return [r["path"] for r in c.server.requests() if "/resolve/" in r["path"]]


def _export(run_cli: Any, c: Cached, out: Path, *targets: str) -> Any:
    return run_cli("cache", "export", *(targets or ("alice/m",)), "-o", str(out), env=c.env)


def test_snapshot_link_out_of_the_cache(cached: Cached, run_cli: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "secret"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    readme = cached.repo / "snapshots" / cached.c2 / "README.md"
    readme.unlink()
    os.symlink(os.path.relpath(outside, readme.parent), readme)

    bad = run_cli("cache", "verify", "--json", env=cached.env)
    assert bad.returncode == 6
    problems = json.loads(bad.stdout)["problems"]
    assert [(p["kind"], p["path"]) for p in problems] == [("bad_link", "README.md")]

    bundle = tmp_path / "m.tar"
    refused = _export(run_cli, cached, bundle)
    assert refused.returncode == 6 and "README.md" in refused.stderr
    assert not bundle.exists()

    cached.server.clear_requests()
    fixed = run_cli("cache", "repair", "alice/m", env=cached.env)
    assert fixed.returncode == 0, fixed
    assert _resolve_gets(cached) == []  # the right blob was there: relinked, nothing fetched
    assert not readme.resolve().is_relative_to(outside.parent)
    assert run_cli("cache", "verify", env=cached.env).returncode == 0
    assert _offline_load(cached)["README.md"] == b"# m\n".hex()
    assert outside.read_bytes() == SECRET


def test_repo_blob_linking_out_is_refetched(cached: Cached, run_cli: Any, tmp_path: Path) -> None:
    blob = cached.blob_of(cached.c2, "model.safetensors")
    outside = tmp_path / "weights"
    outside.write_bytes(WEIGHTS_V2)  # even the right bytes: outside the cache is not allowed
    blob.unlink()
    os.symlink(outside, blob)
    bad = run_cli("cache", "verify", "--json", env=cached.env)
    assert bad.returncode == 6
    assert [p["kind"] for p in json.loads(bad.stdout)["problems"]] == ["bad_link"]
    assert _export(run_cli, cached, tmp_path / "x.tar").returncode == 6

    cached.server.clear_requests()
    assert run_cli("cache", "repair", env=cached.env).returncode == 0
    assert [p.rsplit("/", 1)[-1] for p in _resolve_gets(cached)] == ["model.safetensors"]
    assert not blob.is_symlink() and blob.read_bytes() == WEIGHTS_V2
    assert run_cli("cache", "verify", env=cached.env).returncode == 0


def _tampered(run_cli: Any, c: Cached, tmp_path: Path, edit: Any) -> Path:
    good = tmp_path / "good.tar"
    assert _export(run_cli, c, good).returncode == 0
    members = members_of(good)
    doc = json.loads(members[0][1])
    edit(doc["repos"][0]["revisions"][c.c2])
    return write_bundle(tmp_path / "evil.tar", members, doc)


def test_import_tree_entry_with_dotdot_refused(
    cached: Cached, run_cli: Any, tmp_path: Path
) -> None:
    def edit(rev: dict[str, Any]) -> None:
        files = rev["tree"]["files"]
        files["../../../trees/" + cached.c2] = files["config.json"]

    evil = _tampered(run_cli, cached, tmp_path, edit)
    before = listing(cached.cache)
    res = run_cli("cache", "import", str(evil), env=cached.env)
    assert res.returncode == 6 and "unsafe" in res.stderr.lower(), res
    assert listing(cached.cache) == before
    assert _offline_load(cached)["config.json"] == CONFIG.encode().hex()


def test_import_file_and_folder_clash_refused(cached: Cached, run_cli: Any, tmp_path: Path) -> None:
    def edit(rev: dict[str, Any]) -> None:
        rev["tree"] = None
        rev["files"]["config.json/x"] = rev["files"]["config.json"]

    evil = _tampered(run_cli, cached, tmp_path, edit)
    for target in (cached.cache, tmp_path / "fresh"):
        before = listing(target) if target.exists() else {}
        res = run_cli("--cache-dir", str(target), "cache", "import", str(evil))
        assert res.returncode == 6 and "both as a file and as a folder" in res.stderr, res
        assert (listing(target) if target.exists() else {}) == before


def test_import_never_replaces_a_good_tree(cached: Cached, run_cli: Any, tmp_path: Path) -> None:
    def edit(rev: dict[str, Any]) -> None:
        entry = rev["tree"]["files"]["README.md"]
        entry["blob_id"] = "0" * 40
        rev["files"].pop("README.md")

    evil = _tampered(run_cli, cached, tmp_path, edit)
    tree = cached.repo / "trees" / f"{cached.c2}.json"
    text = tree.read_text()
    res = run_cli("cache", "import", str(evil), env=cached.env)
    assert res.returncode == 6 and "tree" in res.stderr
    assert tree.read_text() == text
    assert _offline_load(cached)["README.md"] == b"# m\n".hex()


def test_import_missing_bundle_is_exit_8(run_cli: Any, tmp_path: Path) -> None:
    res = run_cli("--cache-dir", str(tmp_path / "c"), "cache", "import", str(tmp_path / "no.tar"))
    assert res.returncode == 8 and "no.tar" in res.stderr


SHARE = """
import hashlib, os
from huggingface_hub import snapshot_download
from huggingface_hub.utils._shared_blobs import is_shared_blobs_dir, publish_blob_to_shared_store
snapshot_download('alice/m', revision='{c1}')
snapshot_download('alice/m')
cache = os.environ['HF_HUB_CACHE']
blobs = os.path.join(cache, 'models--alice--m', 'blobs')
shared = 0
for name in sorted(os.listdir(blobs)):
    path = os.path.join(blobs, name)
    if len(name) == 64:  # LFS blobs: what hf_xet downloads
        xet = hashlib.sha256(b'xet' + name.encode()).hexdigest()
        size = os.path.getsize(path)
        assert publish_blob_to_shared_store(
            blob_path=path, xet_hash=xet, cache_dir=cache, expected_size=size
        )
        shared += 1
assert shared == 2 and is_shared_blobs_dir(os.path.join(cache, 'blobs'))
"""

HF_SCAN_WARNINGS = """
from huggingface_hub import scan_cache_dir
print(len(scan_cache_dir().warnings))
"""


def test_hf_shared_store_cache_stays_healthy(hub_server: Any, tmp_path: Path, run_cli: Any) -> None:
    from tests.e2e.test_cache_cli import _hf_cache

    base = _hf_cache(hub_server, tmp_path / "plain")
    env = hf_environment(hub_server.url, tmp_path / "shared")
    run_hf(SHARE.format(c1=base.c1), env)
    c = Cached(hub_server, env, tmp_path / "shared" / "hub", base.c1, base.c2)
    etag = os.path.basename(os.readlink(c.repo / "snapshots" / c.c2 / "model.safetensors"))
    assert (c.repo / "blobs" / etag).is_symlink()  # repo blob -> <cache>/blobs/<xx>/<xet hash>
    assert c.blob_of(c.c2, "model.safetensors").parent.parent == (c.cache / "blobs").resolve()
    verify = run_cli("cache", "verify", "--json", env=env)
    assert verify.returncode == 0 and json.loads(verify.stdout)["problems"] == [], verify

    bundle = tmp_path / "m.tar.gz"
    assert _export(run_cli, c, bundle).returncode == 0
    before = listing(c.cache)
    assert run_cli("cache", "import", str(bundle), env=env).returncode == 0
    assert listing(c.cache, skip=(".locks",)) == {
        k: v for k, v in before.items() if not k.startswith(".locks")
    }  # everything was already there: the shared links are kept as they are

    env2 = hf_environment(hub_server.url, tmp_path / "dst")
    assert run_cli("cache", "import", str(bundle), env=env2).returncode == 0
    assert run_cli("cache", "verify", env=env2).returncode == 0
    assert run_hf(HF_SCAN_WARNINGS, env2).stdout.strip() == "0"
    assert run_hf(HF_SCAN_WARNINGS, env).stdout.strip() == "0"
    loaded = _offline_load(c, tmp_path / "dst" / "hub")
    assert loaded["model.safetensors"] == WEIGHTS_V2.hex()


def test_hf_no_symlink_cache_stays_healthy(hub_server: Any, tmp_path: Path, run_cli: Any) -> None:
    hub_server.seed_repo("alice/m", {"config.json": CONFIG, "model.safetensors": WEIGHTS_V2})
    env = dict(hf_environment(hub_server.url, tmp_path / "copies"), HF_HUB_DISABLE_SYMLINKS="1")
    run_hf("from huggingface_hub import snapshot_download; snapshot_download('alice/m')", env)
    cache = tmp_path / "copies" / "hub"
    snap = next((cache / "models--alice--m" / "snapshots").iterdir())
    assert not (snap / "config.json").is_symlink()
    verify = run_cli("cache", "verify", "--json", env=env)
    assert verify.returncode == 0, verify
    assert {p["kind"] for p in json.loads(verify.stdout)["problems"]} <= {"unverifiable"}

    bundle = tmp_path / "copies.tar"
    exp = run_cli("cache", "export", "alice/m", "-o", str(bundle), env=env)
    assert exp.returncode == 0, exp
    before = listing(cache, skip=(".locks",))
    assert run_cli("cache", "import", str(bundle), env=env).returncode == 0
    assert listing(cache, skip=(".locks",)) == before  # the copies are kept, nothing added
    env2 = hf_environment(hub_server.url, tmp_path / "dst")
    assert run_cli("cache", "import", str(bundle), env=env2).returncode == 0
    assert run_cli("cache", "verify", env=env2).returncode == 0
    proc = run_hf(
        "from huggingface_hub import hf_hub_download\n"
        "print(open(hf_hub_download('alice/m', 'config.json'), encoding='utf-8').read())",
        dict(env2, HF_HUB_OFFLINE="1"),
    )
    assert CONFIG in proc.stdout
    with tarfile.open(bundle) as tf:
        assert len([m for m in tf.getmembers() if m.name.startswith("blobs/")]) == 2
