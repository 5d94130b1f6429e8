"""Read-only cache tiers: look-ups, verification once per run (remembered in the state dir), the
link the writable cache gets, and how a scan accounts for tier bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hubcli.cache.layout import RepoCache
from hubcli.cache.scan import scan_cache
from hubcli.cache.tiers import Tiers, link_tier_blob, tiers_for
from hubcli.repo import RepoRef

REF = RepoRef("alice/m", "model")
DATA = b"hello tier" * 100
ETAG = hashlib.sha256(DATA).hexdigest()
COMMIT = "a" * 40


def make_tier(root: Path, data: bytes = DATA, ref: RepoRef = REF) -> Path:
    rc = RepoCache(root, ref)
    rc.ensure_dirs()
    rc.blob_path(ETAG).write_bytes(data)
    snap = rc.snapshot_dir(COMMIT)
    snap.mkdir(parents=True)
    os.symlink(f"../../blobs/{ETAG}", snap / "w.bin")
    rc.write_ref("main", COMMIT)
    return rc.blob_path(ETAG)


def test_locate_resolve_and_verify_once_then_remembered(tmp_path: Path) -> None:
    make_tier(tmp_path / "t")
    state = tmp_path / "state"
    tiers = Tiers([tmp_path / "missing", tmp_path / "t"], state_dir=state)
    assert tiers.roots == ((tmp_path / "t").resolve(),)
    assert tiers.resolve(REF, "main") == COMMIT
    assert tiers.resolve(REF, COMMIT) == COMMIT
    assert tiers.resolve(REF, "b" * 40) is None
    assert tiers.snapshot_dir(REF, COMMIT) is not None
    found = tiers.verified(REF, ETAG, len(DATA))
    assert found is not None and found.is_absolute()
    assert tiers.verified(REF, ETAG, len(DATA)) == found and tiers.hashed == 1
    tiers.save()
    # the next run: remembered by (dev, ino, size, mtime), nothing hashed
    again = Tiers([tmp_path / "t"], state_dir=state)
    assert again.verified(REF, ETAG, len(DATA)) == found and again.hashed == 0
    # another repo of the tier holds the same bytes: found too (content-addressed)
    other = RepoRef("bob/x", "model")
    assert again.verified(other, ETAG, len(DATA)) == found
    assert again.verified(REF, ETAG, len(DATA) + 1) is None  # the size must match


def test_corrupt_or_escaping_tier_blob_is_refused(tmp_path: Path) -> None:
    blob = make_tier(tmp_path / "t", data=b"x" * len(DATA))
    assert Tiers([tmp_path / "t"], state_dir=None).verified(REF, ETAG, len(DATA)) is None
    outside = tmp_path / "elsewhere"
    outside.write_bytes(DATA)
    blob.unlink()
    os.symlink(outside, blob)  # a tier blob linking out of the tier is not followed
    assert Tiers([tmp_path / "t"], state_dir=None).verified(REF, ETAG, len(DATA)) is None


def test_writable_cache_is_never_its_own_tier(tmp_path: Path) -> None:
    make_tier(tmp_path / "t")
    assert tiers_for([], None) is None
    assert tiers_for([tmp_path / "t"], None, cache_dir=tmp_path / "t") is None
    got = tiers_for([tmp_path / "t"], None, cache_dir=tmp_path / "w")
    assert got is not None and got.roots == ((tmp_path / "t").resolve(),)


def test_scan_counts_tier_bytes_apart(tmp_path: Path) -> None:
    make_tier(tmp_path / "t")
    tiers = Tiers([tmp_path / "t"], state_dir=None)
    target = tiers.verified(REF, ETAG, len(DATA))
    assert target is not None
    rc = RepoCache(tmp_path / "w", REF)
    rc.ensure_dirs()
    link_tier_blob(rc, ETAG, target)
    rc.link_snapshot(COMMIT, "w.bin", ETAG)
    (rc.blobs_dir / ("b" * 64)).write_bytes(b"local")
    rc.link_snapshot(COMMIT, "local.bin", "b" * 64)
    assert os.readlink(rc.blob_path(ETAG)) == str(target)
    assert os.readlink(rc.snapshot_file(COMMIT, "w.bin")) == f"../../blobs/{ETAG}"
    scan = scan_cache(tmp_path / "w", tiers=[tmp_path / "t"])
    repo = scan.repos[0]
    tier = str((tmp_path / "t").resolve())
    assert repo.blobs[ETAG].tier == tier
    assert repo.size == 5 and repo.tiers == {tier: len(DATA)}
    assert repo.revisions[0].size == 5 and repo.revisions[0].tiers == {tier: len(DATA)}
    assert scan.size == 5 and scan.tiers == {tier: len(DATA)}
    # without the tier configured, the link out of the cache is a problem, never followed
    bare = scan_cache(tmp_path / "w").repos[0]
    assert bare.blobs[ETAG].problem is not None and bare.tiers == {}


def test_library_cache_commands_follow_the_configured_tiers(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from hubcli.hub import Hub

    make_tier(tmp_path / "t")
    target = Tiers([tmp_path / "t"], state_dir=None).verified(REF, ETAG, len(DATA))
    assert target is not None
    rc = RepoCache(tmp_path / "w", REF)
    rc.ensure_dirs()
    link_tier_blob(rc, ETAG, target)
    rc.link_snapshot(COMMIT, "w.bin", ETAG)
    rc.write_ref("main", COMMIT)
    monkeypatch.setenv("HUBCLI_CACHE_TIERS", str(tmp_path / "t"))
    with Hub(cache_dir=str(tmp_path / "w")) as hub:
        report = hub.cache.verify()
        assert report.ok and report.tiers == {
            str((tmp_path / "t").resolve()): {"blobs": 1, "bytes": len(DATA)}
        }
        assert hub.cache.ls().rows[0].tier == str((tmp_path / "t").resolve())
        hub.cache.rm(["alice/m"])
    assert not (tmp_path / "w" / "models--alice--m").exists()
    assert (tmp_path / "t" / "models--alice--m" / "blobs" / ETAG).read_bytes() == DATA
