"""End-to-end: `hubcli cache ...` on caches filled by huggingface_hub from the local hub."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import hf_environment, run_hf

CONFIG = '{"a": 1}'
WEIGHTS_V1 = b"\x00" * 3000
WEIGHTS_V2 = b"\x01" * 3000


@dataclass
class Cached:
    server: Any
    env: dict[str, str]
    cache: Path
    c1: str
    c2: str

    @property
    def repo(self) -> Path:
        return self.cache / "models--alice--m"

    def blob_of(self, commit: str, path: str) -> Path:
        link = self.repo / "snapshots" / commit / path
        return (link.parent / os.readlink(link)).resolve()


def _hf_cache(server: Any, home: Path) -> Cached:
    c1 = server.seed_repo(
        "alice/m",
        {"config.json": CONFIG, "sub/vocab.txt": "hello\n", "model.safetensors": WEIGHTS_V1},
    )
    c2 = server.seed_repo("alice/m", {"model.safetensors": WEIGHTS_V2, "README.md": "# m\n"})
    env = hf_environment(server.url, home)
    run_hf(
        f"""
        from huggingface_hub import snapshot_download
        snapshot_download('alice/m', revision='{c1}')
        snapshot_download('alice/m')
        """,
        env,
    )
    return Cached(server, env, home / "hub", c1, c2)


@pytest.fixture
def cached(hub_server: Any, tmp_path: Path) -> Cached:
    return _hf_cache(hub_server, tmp_path / "hf_home")


def _json(res: Any) -> Any:
    assert res.returncode == 0, res
    return json.loads(res.stdout)


def _offline_load(c: Cached, cache: Path | None = None) -> dict[str, Any]:
    env = dict(c.env, HF_HUB_OFFLINE="1")
    if cache is not None:
        env["HF_HUB_CACHE"] = str(cache)
    proc = run_hf(
        """
        import json, os
        from huggingface_hub import snapshot_download
        p = snapshot_download('alice/m')
        out = {}
        for dp, _d, fs in os.walk(p):
            for f in fs:
                full = os.path.join(dp, f)
                out[os.path.relpath(full, p)] = open(full, 'rb').read().hex()
        print(json.dumps(out))
        """,
        env,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_ls_revisions_filters_and_du(cached: Cached, run_cli: Any) -> None:
    doc = _json(run_cli("cache", "ls", "--json", env=cached.env))
    assert [r["repo_id"] for r in doc["rows"]] == ["alice/m"]
    row = doc["rows"][0]
    # distinct blobs: config, vocab, weights v1, weights v2, README (shared config/vocab once)
    assert row["size"] == len(CONFIG) + 6 + 3000 + 3000 + 4
    assert row["revisions"] == 2 and row["files"] == 5 and row["refs"] == ["main"]
    assert doc["total"]["size"] == row["size"]

    revs = _json(run_cli("cache", "ls", "--revisions", "--json", env=cached.env))["rows"]
    by_commit = {r["revision"]: r for r in revs}
    assert by_commit[cached.c2]["refs"] == ["main"] and by_commit[cached.c1]["refs"] == []
    assert by_commit[cached.c1]["files"] == 3 and by_commit[cached.c2]["files"] == 4

    for flt, n in [("type=dataset", 0), ("size>1GB", 0), ("size>1kB", 1), ("accessed<1d", 1)]:
        got = _json(run_cli("cache", "ls", "--filter", flt, "--json", env=cached.env))
        assert len(got["rows"]) == n, flt
    bad = run_cli("cache", "ls", "--filter", "colour=red", env=cached.env)
    assert bad.returncode == 2 and "Invalid filter" in bad.stderr

    human = run_cli("cache", "ls", env=cached.env)
    assert human.returncode == 0 and "alice/m " in human.stdout
    assert human.stdout.strip().splitlines()[-1].startswith("Total: 1 repo,")

    du = _json(run_cli("cache", "du", "--json", env=cached.env))
    assert du["size"] == row["size"] and du["unreferenced"] == 0 and du["incomplete"] == 0


def test_flipped_byte_verify_exits_6_and_repair_fixes(cached: Cached, run_cli: Any) -> None:
    ok = run_cli("cache", "verify", env=cached.env)
    assert ok.returncode == 0, ok
    blob = cached.blob_of(cached.c2, "model.safetensors")
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))

    bad = run_cli("cache", "verify", "alice/m", "--json", env=cached.env)
    assert bad.returncode == 6
    problems = json.loads(bad.stdout)["problems"]
    assert [(p["kind"], p["path"], p["commit"]) for p in problems] == [
        ("corrupt", "model.safetensors", cached.c2)
    ]

    cached.server.clear_requests()
    fixed = run_cli("cache", "repair", "alice/m", env=cached.env)
    assert fixed.returncode == 0, fixed
    gets = [r for r in cached.server.requests() if "/resolve/" in r["path"]]
    assert len(gets) == 1 and gets[0]["path"].endswith("model.safetensors")  # exactly that blob
    assert blob.read_bytes() == WEIGHTS_V2
    assert run_cli("cache", "verify", env=cached.env).returncode == 0
    assert _offline_load(cached)["model.safetensors"] == WEIGHTS_V2.hex()


def test_dangling_link_is_missing_then_repaired(cached: Cached, run_cli: Any) -> None:
    blob = cached.blob_of(cached.c2, "README.md")
    blob.unlink()
    bad = run_cli("cache", "verify", "--json", env=cached.env)
    assert bad.returncode == 6
    kinds = {(p["kind"], p["path"]) for p in json.loads(bad.stdout)["problems"]}
    assert kinds == {("missing", "README.md")}
    assert run_cli("cache", "repair", env=cached.env).returncode == 0
    assert blob.read_text() == "# m\n"
    assert run_cli("cache", "verify", env=cached.env).returncode == 0


def test_verify_online_reports_link_to_wrong_blob(cached: Cached, run_cli: Any) -> None:
    snap = cached.repo / "snapshots" / cached.c2
    (snap / "README.md").unlink()
    target = os.readlink(snap / "config.json")
    os.symlink(target, snap / "README.md")  # points at config's blob: sound hash, wrong file
    # trees/<commit>.json (written by snapshot_download) lets offline verify see it ...
    assert run_cli("cache", "verify", env=cached.env).returncode == 6
    # ... without it only the Hub knows
    (cached.repo / "trees" / f"{cached.c2}.json").unlink()
    assert run_cli("cache", "verify", env=cached.env).returncode == 0
    bad = run_cli(
        "cache", "verify", "alice/m", "--revision", "main", "--online", "--json", env=cached.env
    )
    assert bad.returncode == 6
    assert [p["kind"] for p in json.loads(bad.stdout)["problems"]] == ["mismatch"]


def test_prune_detached_incomplete_dangling_and_locks(cached: Cached, run_cli: Any) -> None:
    from filelock import FileLock

    blobs = cached.repo / "blobs"
    stale = blobs / ("a" * 64 + ".deadbeef.incomplete")
    stale.write_bytes(b"x" * 10)
    busy_etag = "b" * 64
    busy = blobs / f"{busy_etag}.cafebabe.incomplete"
    busy.write_bytes(b"y" * 10)
    dangling = cached.repo / "snapshots" / cached.c2 / "gone.txt"
    os.symlink("../../blobs/" + "c" * 40, dangling)
    empty = cached.repo / "snapshots" / cached.c2 / "empty" / "deeper"
    empty.mkdir(parents=True)
    v1_only = cached.blob_of(cached.c1, "model.safetensors")
    shared = cached.blob_of(cached.c1, "config.json")

    refused = run_cli("cache", "prune", env=cached.env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    dry = _json(run_cli("cache", "prune", "--dry-run", "--json", env=cached.env))
    kinds = sorted(i["kind"] for i in dry["items"])
    assert kinds == ["blob", "dangling", "folder", "folder", "incomplete", "incomplete", "revision"]
    assert stale.exists() and v1_only.exists()  # dry run changed nothing

    lock_path = cached.cache / ".locks" / "models--alice--m" / f"{busy_etag}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path)):  # a "running download" holds this blob's lock
        res = _json(run_cli("cache", "prune", "--yes", "--json", env=cached.env))
    assert [s["path"] for s in res["skipped"]] == [str(busy)]
    assert busy.exists() and not stale.exists()
    assert not (cached.repo / "snapshots" / cached.c1).exists() and not v1_only.exists()
    assert shared.exists() and not os.path.lexists(dangling) and not empty.parent.exists()
    assert res["bytes_freed"] == 3000 + 10
    assert _offline_load(cached)["config.json"] == CONFIG.encode().hex()


def test_rm_one_of_two_revisions_keeps_shared_blobs(cached: Cached, run_cli: Any) -> None:
    shared = cached.blob_of(cached.c1, "config.json")
    v1_only = cached.blob_of(cached.c1, "model.safetensors")
    res = _json(
        run_cli("cache", "rm", f"alice/m@{cached.c1[:10]}", "--yes", "--json", env=cached.env)
    )
    assert res["bytes_freed"] == 3000
    assert shared.exists() and not v1_only.exists()
    assert not (cached.repo / "snapshots" / cached.c1).exists()
    assert run_cli("cache", "verify", env=cached.env).returncode == 0
    assert _offline_load(cached)["sub/vocab.txt"] == b"hello\n".hex()

    # a file, then the whole repo; unknown targets are "not found"
    f = _json(run_cli("cache", "rm", "alice/m@main/README.md", "--yes", "--json", env=cached.env))
    assert [i["kind"] for i in f["items"]] == ["file", "blob"]
    assert run_cli("cache", "rm", "alice/nope", "--yes", env=cached.env).returncode == 4
    assert run_cli("cache", "rm", "alice/m", "--yes", env=cached.env).returncode == 0
    assert not cached.repo.exists()


def test_rm_requires_yes_when_not_interactive(cached: Cached, run_cli: Any) -> None:
    res = run_cli("cache", "rm", "alice/m", env=cached.env)
    assert res.returncode == 2 and "--yes" in res.stderr
    assert cached.repo.exists()
    dry = run_cli("cache", "rm", "alice/m", "--dry-run", env=cached.env)
    assert dry.returncode == 0 and "Would free" in dry.stdout and cached.repo.exists()


def test_export_import_roundtrip_empty_and_partial_cache(
    cached: Cached, run_cli: Any, tmp_path: Path
) -> None:
    bundle = tmp_path / "m.tar"
    exp = _json(run_cli("cache", "export", "alice/m", "-o", str(bundle), "--json", env=cached.env))
    assert exp["blobs"] == 5 and exp["revisions"] == 2 and bundle.exists()

    empty = tmp_path / "airgap"
    imp = _json(run_cli("--cache-dir", str(empty), "cache", "import", str(bundle), "--json"))
    assert imp["blobs"] == 5 and imp["blobs_skipped"] == 0
    assert [p.name for p in empty.iterdir() if p.name.startswith(".hubcli")] == []
    loaded = _offline_load(cached, empty)
    assert loaded["model.safetensors"] == WEIGHTS_V2.hex()
    assert loaded["config.json"] == CONFIG.encode().hex()

    # a cache that already holds some of the blobs (config.json via huggingface_hub)
    partial_home = tmp_path / "partial"
    env = hf_environment(cached.server.url, partial_home)
    run_hf(
        "from huggingface_hub import hf_hub_download; hf_hub_download('alice/m', 'config.json')",
        env,
    )
    part = _json(run_cli("cache", "import", str(bundle), "--json", env=env))
    assert part["blobs_skipped"] == 1 and part["blobs"] == 4
    assert _offline_load(cached, partial_home / "hub")["sub/vocab.txt"] == b"hello\n".hex()
    assert run_cli("cache", "verify", env=env).returncode == 0


def test_import_refuses_tampered_bundle_via_cli(
    cached: Cached, run_cli: Any, tmp_path: Path
) -> None:
    import tarfile

    bundle = tmp_path / "m.tar"
    assert (
        run_cli("cache", "export", "alice/m@main", "-o", str(bundle), env=cached.env).returncode
        == 0
    )
    evil = tmp_path / "evil.tar"
    with tarfile.open(bundle) as src, tarfile.open(evil, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.startswith("blobs/") and len(data) == 3000:
                data = b"\x02" * 3000
            import io

            dst.addfile(m, io.BytesIO(data))
    target = tmp_path / "target"
    res = run_cli("--cache-dir", str(target), "cache", "import", str(evil))
    assert res.returncode == 6 and "does not match" in res.stderr
    assert not target.exists() or list(target.iterdir()) == []


def test_dedup_hardlinks_identical_blobs_across_repos(
    hub_server: Any, tmp_path: Path, run_cli: Any
) -> None:
    files = {"config.json": CONFIG, "model.safetensors": WEIGHTS_V1}
    hub_server.seed_repo("alice/a", files)
    hub_server.seed_repo("alice/b", files)
    env = hf_environment(hub_server.url, tmp_path / "home")
    run_hf("from huggingface_hub import snapshot_download as s; s('alice/a'); s('alice/b')", env)
    before = _json(run_cli("cache", "ls", "--json", env=env))["total"]["size"]
    dry = _json(run_cli("cache", "dedup", "--dry-run", "--json", env=env))
    assert dry["bytes_saved"] == 3000 + len(CONFIG) and len(dry["links"]) == 2
    done = _json(run_cli("cache", "dedup", "--json", env=env))
    assert done["bytes_saved"] == 3000 + len(CONFIG)
    cache = tmp_path / "home" / "hub"
    a = next((cache / "models--alice--a" / "blobs").iterdir())
    b = cache / "models--alice--b" / "blobs" / a.name
    assert os.path.samestat(a.stat(), b.stat())
    after = _json(run_cli("cache", "ls", "--json", env=env))["total"]["size"]
    assert after == before - 3000 - len(CONFIG)
    again = _json(run_cli("cache", "dedup", "--json", env=env))
    assert again["links"] == []
    assert run_cli("cache", "verify", env=env).returncode == 0


def test_cache_built_by_hubcli_download(hub_server: Any, tmp_path: Path, run_cli: Any) -> None:
    hub_server.seed_repo("alice/h", {"config.json": CONFIG, "w.safetensors": WEIGHTS_V1})
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "hc")}
    got = run_cli("download", "alice/h", env=env)
    assert got.returncode == 0, got
    doc = _json(run_cli("cache", "ls", "--json", env=env))
    assert doc["rows"][0]["repo_id"] == "alice/h" and doc["rows"][0]["files"] == 2
    assert run_cli("cache", "verify", "alice/h", env=env).returncode == 0


def test_repair_resumes_a_partial_blob_through_the_download_engine(
    cached: Cached, run_cli: Any
) -> None:
    blob = cached.blob_of(cached.c2, "model.safetensors")
    blob.unlink()  # missing; a previous repair got the first 100 bytes before it was killed
    etag = blob.name
    (blob.parent / f"{etag}.incomplete").write_bytes(WEIGHTS_V2[:100])
    cached.server.clear_requests()
    fixed = run_cli("cache", "repair", "alice/m", "--json", env=cached.env)
    assert fixed.returncode == 0, fixed
    gets = [r for r in cached.server.requests() if r["method"] == "GET"]
    assert [g.get("range") for g in gets if "resolve" in g["path"] or "_cdn" in g["path"]][
        -1
    ] == "bytes=100-"  # only the missing bytes travelled
    assert blob.read_bytes() == WEIGHTS_V2
    assert not list(blob.parent.glob("*.incomplete"))
    assert json.loads(fixed.stdout)["bytes_fetched"] == len(WEIGHTS_V2) - 100


def test_repair_refuses_content_the_hub_no_longer_names(cached: Cached, run_cli: Any) -> None:
    snap = cached.repo / "snapshots" / cached.c2
    readme = snap / "README.md"
    readme.unlink()
    os.symlink("../../blobs/" + "e" * 40, readme)  # expects a blob the Hub never had here
    (cached.repo / "trees" / f"{cached.c2}.json").unlink()  # only the link tells what to expect
    bad = run_cli("cache", "repair", "alice/m", "--json", env=cached.env)
    assert bad.returncode != 0
    failed = json.loads(bad.stdout)["failed"]
    assert [f["path"] for f in failed] == ["README.md"]
    assert "other content" in failed[0]["error"]
