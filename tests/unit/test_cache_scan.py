"""The cache scanner on hand-built layouts: nested refs, hardlinks, shared store, odd entries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubcli.cache.clean import execute_plan, plan_prune, plan_rm
from hubcli.cache.layout import RepoCache
from hubcli.cache.scan import scan_cache
from hubcli.repo import RepoRef
from tests.unit.test_cache_bundle import C1, FILES, build_cache, git_sha1

C2 = "2" * 40


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


def test_nested_refs_sizes_and_counts(cache: Path) -> None:
    build_cache(cache, FILES)
    scan = scan_cache(cache)
    assert scan.warnings == []
    (repo,) = scan.repos
    assert repo.refs == {"main": C1, "refs/pr/1": C1}
    assert repo.size == sum(len(d) for d in FILES.values()) == scan.size
    (rev,) = repo.revisions
    assert rev.refs == ("main", "refs/pr/1") and rev.nb_files == 3
    assert {f.path for f in rev.files} == set(FILES)


def test_hardlinked_blobs_counted_once(cache: Path) -> None:
    a = build_cache(cache, FILES, repo="alice/a")
    b = build_cache(cache, FILES, repo="alice/b")
    etag = git_sha1(b"hello")
    b.blob_path(etag).unlink()
    os.link(a.blob_path(etag), b.blob_path(etag))
    scan = scan_cache(cache)
    total = sum(len(d) for d in FILES.values())
    assert [r.size for r in scan.repos] == [total, total]
    assert scan.size == 2 * total - 5 and scan.shared == 5


def test_shared_store_skipped_and_two_hop_links(cache: Path) -> None:
    rc = build_cache(cache, {"config.json": b"{}"})
    store = cache / "blobs"
    (store / "ab").mkdir(parents=True)
    (store / ".huggingface-shared-blobs").write_text("1\n")
    payload = store / "ab" / ("ab" + "0" * 62)
    payload.write_bytes(b"x" * 50)
    etag = "f" * 64
    os.symlink(os.path.relpath(payload, rc.blobs_dir), rc.blob_path(etag))
    rc.link_snapshot(C1, "big.bin", etag)
    scan = scan_cache(cache)
    assert scan.warnings == [] and [r.repo_id for r in scan.repos] == ["alice/m"]
    files = {f.path: f for f in scan.repos[0].revisions[0].files}
    assert files["big.bin"].size == 50 and scan.repos[0].blobs[etag].shared


def test_odd_entries_become_warnings_not_crashes(cache: Path) -> None:
    rc = build_cache(cache, FILES)
    (cache / "version.txt").write_text("1")
    (cache / "not-a-repo").mkdir()
    (cache / "models--only--noexist" / ".no_exist").mkdir(parents=True)
    (rc.path / "snapshots" / "stray.txt").write_text("x")
    os.symlink("../../blobs/" + "e" * 40, rc.path / "snapshots" / C1 / "dangling")
    rc.write_ref("v9", C2)
    (rc.blobs_dir / ("d" * 64 + ".12345678.incomplete")).write_bytes(b"123")
    scan = scan_cache(cache)
    text = "\n".join(scan.warnings)
    for needle in (
        "found a file",
        "Not a valid",
        "Snapshots dir",
        "Found a file",
        "broken",
        "missing commit",
    ):
        assert needle in text, needle
    assert [size for _p, size, _m in scan.incomplete] == [3]
    dangling = [f for f in scan.repos[0].revisions[0].files if not f.exists]
    assert [f.path for f in dangling] == ["dangling"]


def test_no_symlink_cache_files_are_their_own_blobs(cache: Path) -> None:
    rc = RepoCache(cache, RepoRef("alice/c"))
    rc.ensure_dirs()
    snap = rc.snapshot_dir(C1)
    snap.mkdir(parents=True)
    (snap / "a.txt").write_bytes(b"12345")
    rc.write_ref("main", C1)
    (repo,) = scan_cache(cache).repos
    assert repo.size == 5 and repo.revisions[0].files[0].etag is None


def test_rm_revision_plan_frees_only_unshared(cache: Path) -> None:
    rc = build_cache(cache, FILES)
    rc.link_snapshot(C2, "config.json", git_sha1(b"{}"))
    plan = plan_rm(cache, [f"alice/m@{C1}"])
    kinds = sorted(d.kind for d in plan.items)
    assert kinds == ["blob", "blob", "ref", "ref", "revision"]
    execute_plan(plan)
    assert rc.blob_path(git_sha1(b"{}")).exists() and not rc.ref_path("main").exists()
    assert scan_cache(cache).repos[0].revisions[0].commit == C2


def test_prune_removes_empty_repo_folder_and_keeps_locked(cache: Path) -> None:
    (cache / "models--x--empty" / "snapshots").mkdir(parents=True)
    (cache / "models--x--empty" / "blobs").mkdir()
    plan = execute_plan(plan_prune(cache))
    assert not (cache / "models--x--empty").exists()
    assert [d.kind for d in plan.done] == ["folder"]
