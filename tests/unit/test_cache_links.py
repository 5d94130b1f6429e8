"""The link rule on hand-built caches: snapshot links and repo blobs that point outside the cache
are reported by verify, refused by export; the shared store, tiers and plain copies stay healthy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubcli.cache.bundle import export_bundle
from hubcli.cache.layout import RepoCache
from hubcli.cache.links import LinkRoots, check_blob
from hubcli.cache.scan import scan_cache
from hubcli.cache.verify import verify_cache
from hubcli.errors import IntegrityError
from tests.unit.test_cache_bundle import C1, FILES, build_cache, git_sha1

SECRET = b"outside secret\n"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / git_sha1(SECRET)
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def _kinds(cache: Path) -> dict[str, str]:
    report = verify_cache(cache)
    return {p.path: p.kind for p in report.problems}


def _export_refused(cache: Path, tmp_path: Path, entry: str) -> None:
    out = tmp_path / "b.tar"
    with pytest.raises(IntegrityError, match=entry):
        export_bundle(cache, ["alice/m"], out)
    assert not out.exists() and list(tmp_path.glob(".b.tar*")) == []


@pytest.mark.parametrize("absolute", [True, False])
def test_snapshot_link_out_of_the_cache(
    cache: Path, outside: Path, tmp_path: Path, absolute: bool
) -> None:
    rc = build_cache(cache, FILES)
    snap = rc.snapshot_file(C1, "sub/v.txt")
    snap.unlink()
    os.symlink(outside if absolute else os.path.relpath(outside, snap.parent), snap)
    report = verify_cache(cache)
    assert not report.ok
    (bad,) = report.failures
    assert (bad.path, bad.kind) == ("sub/v.txt", "bad_link") and "leaves" in bad.detail
    _export_refused(cache, tmp_path, "sub/v.txt")


def test_link_through_blobs_dotdot_into_another_repo(cache: Path, tmp_path: Path) -> None:
    build_cache(cache, {"x.txt": b"x"}, repo="bob/o")
    rc = build_cache(cache, FILES)
    snap = rc.snapshot_file(C1, "config.json")
    snap.unlink()
    os.symlink(f"../../blobs/../../models--bob--o/blobs/{git_sha1(b'x')}", snap)
    assert _kinds(cache) == {"config.json": "bad_link"}
    _export_refused(cache, tmp_path, "config.json")


def test_repo_blob_linking_out_of_the_cache(cache: Path, outside: Path, tmp_path: Path) -> None:
    rc = build_cache(cache, FILES)
    etag = git_sha1(SECRET)
    os.symlink(outside, rc.blob_path(etag))
    rc.link_snapshot(C1, "leak.txt", etag)  # first hop is the normal ../../blobs/<etag>
    assert _kinds(cache) == {"leak.txt": "bad_link"}
    _export_refused(cache, tmp_path, "leak.txt")
    (repo,) = scan_cache(cache).repos
    assert repo.size == sum(len(d) for d in FILES.values())  # the outside file is not counted


def _shared_store(cache: Path, data: bytes, *, marker: str | None = "1\n") -> Path:
    store = cache / "blobs"
    xet = hashlib.sha256(b"xet" + data).hexdigest()
    (store / xet[:2]).mkdir(parents=True)
    if marker is not None:
        (store / ".huggingface-shared-blobs").write_text(marker)
    payload = store / xet[:2] / xet
    payload.write_bytes(data)
    return payload


def _link_blob(rc: RepoCache, payload: Path, data: bytes, path: str = "big.bin") -> str:
    etag = hashlib.sha256(data).hexdigest()
    os.symlink(os.path.relpath(payload, rc.blobs_dir), rc.blob_path(etag))
    rc.link_snapshot(C1, path, etag)
    return etag


def test_shared_store_is_healthy_and_exports(cache: Path, tmp_path: Path) -> None:
    rc = build_cache(cache, FILES)
    data = b"shared payload" * 10
    _link_blob(rc, _shared_store(cache, data), data)
    report = verify_cache(cache)
    assert report.ok and report.problems == []
    res = export_bundle(cache, ["alice/m"], tmp_path / "b.tar")
    assert res.blobs == 4


@pytest.mark.parametrize("marker", [None, "2\n"])
def test_unmarked_store_is_not_a_store(cache: Path, marker: str | None) -> None:
    rc = build_cache(cache, FILES)
    data = b"payload"
    _link_blob(rc, _shared_store(cache, data, marker=marker), data)
    assert _kinds(cache) == {"big.bin": "bad_link"}


def test_store_prefix_folder_linking_out(cache: Path, tmp_path: Path) -> None:
    rc = build_cache(cache, FILES)
    data = b"payload"
    payload = _shared_store(cache, data)
    prefix = payload.parent
    moved = tmp_path / "elsewhere"
    prefix.rename(moved)
    os.symlink(moved, prefix)  # <cache>/blobs/ab -> outside: the lexical path looks fine
    _link_blob(rc, payload, data)
    assert _kinds(cache) == {"big.bin": "bad_link"}


def test_store_non_entry_refused(cache: Path) -> None:
    rc = build_cache(cache, FILES)
    _shared_store(cache, b"x")
    marker = cache / "blobs" / ".huggingface-shared-blobs"
    state = check_blob(marker, LinkRoots.for_cache(cache))
    assert state.ok  # a regular file at hop 0 is judged by its folder, not here
    etag = hashlib.sha256(b"1\n").hexdigest()
    os.symlink(os.path.relpath(marker, rc.blobs_dir), rc.blob_path(etag))
    rc.link_snapshot(C1, "m.bin", etag)
    assert _kinds(cache) == {"m.bin": "bad_link"}


def test_read_only_tier_is_an_allowed_root(cache: Path, tmp_path: Path) -> None:
    tier = tmp_path / "tier"
    tier.mkdir()
    data = b"tier payload"
    (tier / "t.bin").write_bytes(data)
    rc = build_cache(cache, FILES)
    etag = _link_blob(rc, tier / "t.bin", data)
    scan = scan_cache(cache, tiers=[tier])
    files = {f.path: f for f in scan.repos[0].revisions[0].files}
    assert files["big.bin"].problem is None and files["big.bin"].etag == etag
    assert scan_cache(cache).repos[0].blobs[etag].problem is not None  # not without the tier


def test_folder_link_fifo_and_linked_blobs_folder(cache: Path, tmp_path: Path) -> None:
    rc = build_cache(cache, FILES)
    snap = rc.snapshot_dir(C1)
    os.symlink(tmp_path, snap / "etc")
    os.mkfifo(snap / "pipe")
    kinds = _kinds(cache)
    assert kinds == {"etc": "bad_link", "pipe": "bad_link"}
    _export_refused(cache, tmp_path, "etc|pipe")  # never opens the fifo (no hang)

    other = build_cache(cache, {"a.txt": b"a"}, repo="bob/o")
    real = tmp_path / "real-blobs"
    other.blobs_dir.rename(real)
    os.symlink(real, other.blobs_dir)
    report = verify_cache(cache, repos=[other.ref])
    assert [(p.path, p.kind) for p in report.failures] == [("a.txt", "bad_link")]


def test_plain_copies_stay_healthy(cache: Path, tmp_path: Path) -> None:
    rc = build_cache(cache, FILES)
    for path in FILES:
        snap = rc.snapshot_file(C1, path)
        data = snap.read_bytes()
        snap.unlink()
        snap.write_bytes(data)
    for blob in rc.blobs_dir.iterdir():
        blob.unlink()
    report = verify_cache(cache)
    assert report.ok and {p.kind for p in report.problems} == {"unverifiable"}
    assert export_bundle(cache, ["alice/m"], tmp_path / "b.tar").files == 3
