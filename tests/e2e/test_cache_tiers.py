"""End-to-end: read-only cache tiers (HUBCLI_CACHE_TIERS / --cache-tier) with the real CLI against
the local hub over HTTP. The tier is made read-only (chmod -R a-w); since CI runs as root, which
ignores permission bits, every test also compares a manifest of the tier before and after."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import hf_environment, run_hf

W = b"w" * 50_000  # LFS (sha256 etag)
SHARED = b"shared-tokenizer" * 1000


def manifest(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """Every entry under ``root``: kind, size, mtime_ns, mode and (links) the target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
            target = os.readlink(p) if kind == "l" else ""
            size = 0 if kind == "d" else st.st_size
            out[os.path.relpath(p, root)] = (kind, size, st.st_mtime_ns, st.st_mode, target)
    return out


def make_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames + [""]:
            p = os.path.join(dirpath, name) if name else dirpath
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode & ~0o222)


def make_writable(root: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(root):
        os.chmod(dirpath, os.stat(dirpath).st_mode | 0o200)


@pytest.fixture
def tier_setup(hub_server: Any, run_cli: Any, tmp_path: Path) -> Any:
    hub_server.lfs_threshold = 4096
    first = hub_server.seed_repo(
        "alice/m", {"config.json": '{"a": 1}', "w.bin": W, "notes.txt": "old"}
    )
    hub_server.seed_repo("alice/other", {"tok.json": SHARED})
    tier = tmp_path / "tier"
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tier)}
    for name in ("alice/m", "alice/other"):
        res = run_cli("download", name, "-q", env=env)
        assert res.returncode == 0, res.stderr
    make_read_only(tier)
    yield tier, first
    make_writable(tier)


def test_tier_serves_most_files_the_rest_is_downloaded_hf_loads_offline(
    hub_server: Any, run_cli: Any, tmp_path: Path, tier_setup: Any
) -> None:
    tier, _first = tier_setup
    before = manifest(tier)
    # a new commit: notes.txt changed, tok.json (present in another repo of the tier) added
    second = hub_server.seed_repo("alice/m", {"notes.txt": "new", "tok.json": SHARED})
    cache = tmp_path / "mine"
    env = {
        "HF_ENDPOINT": hub_server.url,
        "HF_HUB_CACHE": str(cache),
        "HUBCLI_CACHE_TIERS": str(tmp_path / "nowhere") + ":" + str(tier),
    }
    res = run_cli("download", "alice/m", "--json", env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    status = {f["path"]: f["status"] for f in doc["files"]}
    assert doc["commit"] == second
    assert status == {
        "config.json": "tier",
        "w.bin": "tier",
        "tok.json": "tier",  # found in another repo of the tier
        "notes.txt": "downloaded",
    }
    assert doc["fetched_bytes"] == len("new")

    # two hops: snapshot -> ../../blobs/<etag> -> the tier's blob (absolute)
    snap = cache / "models--alice--m" / "snapshots" / second
    w_entry = snap / "w.bin"
    etag = os.readlink(w_entry).rsplit("/", 1)[1]
    assert os.readlink(w_entry) == f"../../blobs/{etag}"
    blob = cache / "models--alice--m" / "blobs" / etag
    target = os.readlink(blob)
    assert os.path.isabs(target)
    assert target == str(tier.resolve() / "models--alice--m" / "blobs" / etag)
    assert not (snap / "notes.txt").resolve().is_relative_to(tier.resolve())
    assert w_entry.read_bytes() == W

    # huggingface_hub reads the writable cache offline, unchanged
    hf_env = {**hf_environment(hub_server.url, tmp_path / "hfhome"), "HF_HUB_CACHE": str(cache)}
    hf_env["HF_HUB_OFFLINE"] = "1"
    out = run_hf(
        """
        from huggingface_hub import hf_hub_download, snapshot_download, scan_cache_dir
        p = snapshot_download('alice/m')
        print(open(p + '/w.bin', 'rb').read() == b'w' * 50_000)
        print(open(p + '/tok.json', 'rb').read() == b'shared-tokenizer' * 1000)
        print(open(hf_hub_download('alice/m', 'notes.txt'), 'rb').read())
        info = scan_cache_dir()
        print(sorted(r.repo_id for r in info.repos), len(info.warnings))
        """,
        hf_env,
    )
    assert out.stdout.split() == ["True", "True", "b'new'", "['alice/m']", "0"]

    # cache ls / du / verify say which tier holds what
    ls = run_cli("cache", "ls", "--json", env=env)
    assert ls.returncode == 0, ls.stderr
    row = json.loads(ls.stdout)["rows"][0]
    assert row["tier"] == str(tier.resolve())
    assert row["tier_size"] == len(W) + len(SHARED) + len('{"a": 1}')
    assert row["size"] < row["tier_size"]  # the tier's bytes are not on this disk
    human = run_cli("cache", "ls", env=env)
    assert "TIER" in human.stdout and str(tier.resolve()) in human.stdout
    du = json.loads(run_cli("cache", "du", "--json", env=env).stdout)
    assert du["tiers"] == [{"tier": str(tier.resolve()), "size": row["tier_size"]}]
    verify = run_cli("cache", "verify", "--json", env=env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    vdoc = json.loads(verify.stdout)
    assert vdoc["tiers"] == [{"tier": str(tier.resolve()), "blobs": 3, "bytes": row["tier_size"]}]
    # without the tier configured, the links out of the cache are refused (the link rule)
    bare = run_cli("cache", "verify", env={"HF_HUB_CACHE": str(cache)})
    assert bare.returncode == 6 and "bad_link" in bare.stdout
    assert "linked from read-only tier" in run_cli("cache", "du", env=env).stdout

    # prune / rm delete only the writable cache's links, never in the tier
    rm = run_cli("cache", "rm", "alice/m", "--yes", env=env)
    assert rm.returncode == 0, rm.stderr
    assert not (cache / "models--alice--m").exists()
    prune = run_cli("cache", "prune", "--yes", env=env)
    assert prune.returncode == 0, prune.stderr
    assert manifest(tier) == before


def test_pinned_download_fully_in_tier_makes_no_request_and_offline_reads_tier_refs(
    hub_server: Any, run_cli: Any, tmp_path: Path, tier_setup: Any
) -> None:
    tier, first = tier_setup
    before = manifest(tier)
    cache = tmp_path / "mine"
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(cache)}
    hub_server.clear_requests()
    res = run_cli("download", f"alice/m@{first}", "--cache-tier", str(tier), "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert hub_server.requests() == []  # zero requests: the tier has the commit and its tree
    doc = json.loads(res.stdout)
    assert {f["status"] for f in doc["files"]} == {"tier"}
    assert (cache / "models--alice--m" / "trees" / f"{first}.json").is_file()

    # offline, a fresh writable cache: the ref comes from the tier, written to the writable one
    off = tmp_path / "offline"
    oenv = {
        "HF_HUB_CACHE": str(off),
        "HF_HUB_OFFLINE": "1",
        "HUBCLI_CACHE_TIERS": str(tier),
    }
    res = run_cli("download", "alice/m", "-q", env=oenv)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(off / "models--alice--m" / "snapshots" / first)
    assert (off / "models--alice--m" / "refs" / "main").read_text() == first
    again = run_cli("download", "alice/m", "config.json", "-q", env=oenv)
    assert Path(again.stdout.strip()).read_text() == '{"a": 1}'
    hf_env = {**hf_environment(hub_server.url, tmp_path / "hfhome"), "HF_HUB_CACHE": str(off)}
    hf_env["HF_HUB_OFFLINE"] = "1"
    out = run_hf(
        "from huggingface_hub import snapshot_download\n"
        "p = snapshot_download('alice/m')\n"
        "print(open(p + '/notes.txt').read())\n",
        hf_env,
    )
    assert out.stdout.strip() == "old"
    # the dry run says what would be linked
    dry = run_cli(
        "download",
        "alice/m",
        "--dry-run",
        "--json",
        env={**oenv, "HF_HUB_CACHE": str(tmp_path / "x")},
    )
    assert {f["status"] for f in json.loads(dry.stdout)["files"]} == {"would_link_tier"}
    assert manifest(tier) == before
    assert not (tmp_path / "x").exists()


def test_corrupt_tier_blob_is_not_linked_and_verified_once(
    hub_server: Any, run_cli: Any, tmp_path: Path, tier_setup: Any
) -> None:
    tier, first = tier_setup
    etag = next(
        p.name for p in (tier / "models--alice--m" / "blobs").iterdir() if len(p.name) == 64
    )
    bad = tier / "models--alice--m" / "blobs" / etag
    make_writable(tier)
    os.chmod(bad, 0o644)
    st = os.stat(bad)
    bad.write_bytes(b"x" * len(W))  # same size, wrong bytes
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns))
    make_read_only(tier)
    before = manifest(tier)
    cache = tmp_path / "mine"
    env = {
        "HF_ENDPOINT": hub_server.url,
        "HF_HUB_CACHE": str(cache),
        "HUBCLI_CACHE_TIERS": str(tier),
        "HUBCLI_STATE_DIR": str(tmp_path / "state"),
    }
    res = run_cli("download", "alice/m", "--json", env=env)
    assert res.returncode == 0, res.stderr
    status = {f["path"]: f["status"] for f in json.loads(res.stdout)["files"]}
    assert status["w.bin"] == "downloaded" and status["config.json"] == "tier"
    assert not os.path.islink(cache / "models--alice--m" / "blobs" / etag)
    assert (cache / "models--alice--m" / "snapshots" / first / "w.bin").read_bytes() == W
    # the good ones were remembered (state dir), the bad one not
    memo = json.loads((tmp_path / "state" / "tier-verified.json").read_text())
    assert memo["verified"] and not any(k.endswith(etag) for k in memo["verified"])
    assert manifest(tier) == before


def test_sync_links_locked_files_from_the_tier(
    hub_server: Any, run_cli: Any, tmp_path: Path, tier_setup: Any
) -> None:
    from tests.e2e.test_sync import file_gets, locked_repo, write

    tier, first = tier_setup
    before = manifest(tier)
    second = hub_server.seed_repo("alice/m", {"notes.txt": "new"})
    project = tmp_path / "proj"
    write(project, locked_repo(hub_server, "alice/m"))
    cache = tmp_path / "mine"
    env = {
        "HF_ENDPOINT": hub_server.url,
        "HF_HUB_CACHE": str(cache),
        "HUBCLI_STATE_DIR": str(tmp_path / "state"),
    }
    res = run_cli("sync", "--frozen", "--cache-tier", str(tier), "--json", env=env, cwd=project)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["files"] == 3 and doc["tier"] == 2 and doc["downloaded"] == 1, doc
    assert [p for p in file_gets(hub_server) if "notes.txt" not in p] == []
    snap = cache / "models--alice--m" / "snapshots" / second
    assert (snap / "w.bin").read_bytes() == W
    blob = os.path.join(os.path.dirname(snap / "w.bin"), os.readlink(snap / "w.bin"))
    assert os.readlink(blob).startswith(str(tier.resolve()))
    # a warm rerun: everything cached, nothing hashed again
    again = run_cli("sync", "--frozen", "--cache-tier", str(tier), "--json", env=env, cwd=project)
    assert json.loads(again.stdout)["cached"] == 3
    assert manifest(tier) == before
    del first
