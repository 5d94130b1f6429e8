"""hubcli.cache.budget: LRU eviction to a size budget, exact about shared bytes, pins, locks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubcli.cache.access import read_access, touch_access
from hubcli.cache.budget import execute_budget, plan_budget
from hubcli.cache.layout import RepoCache
from hubcli.cache.locks import FlockLock
from hubcli.cache.scan import scan_cache
from hubcli.repo import RepoRef
from hubcli.units import SizeError, parse_age, parse_rate, parse_size

NOW = 2_000_000_000.0
DAY = 86400.0


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def add_revision(
    cache: Path,
    repo_id: str,
    commit: str,
    files: dict[str, bytes],
    *,
    ref: str | None = None,
    accessed: float | None = None,
) -> RepoCache:
    rc = RepoCache(cache, RepoRef(repo_id, "model"))
    rc.blobs_dir.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        etag = _sha(data)
        blob = rc.blob_path(etag)
        if not blob.exists():
            blob.write_bytes(data)
        rc.link_snapshot(commit, path, etag)
    if ref:
        rc.write_ref(ref, commit)
    if accessed is not None:
        touch_access(cache, rc.ref, commit)
        rec = Path(cache, ".locks", rc.folder, "access", commit)
        os.utime(rec, (accessed, accessed))
    return rc


def C(n: int) -> str:
    return f"{n:x}" * 40 if n < 16 else f"{n:040x}"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    c = tmp_path / "hub"
    c.mkdir()
    return c


def test_sizes_ages_and_rates_parse() -> None:
    assert parse_size("50GB") == 50 * 10**9
    assert parse_size("2GiB") == 2 * 2**30
    with pytest.raises(SizeError, match="Ambiguous"):
        parse_size("50M")
    assert parse_age("30d") == 30 * DAY
    assert parse_age("12h") == 12 * 3600
    assert parse_age("2mo") == 60 * DAY
    with pytest.raises(SizeError):
        parse_age("3 fortnights")
    assert parse_rate("5MB") == 5_000_000
    assert parse_rate("512KiB/s") == 512 * 1024
    with pytest.raises(SizeError):
        parse_rate("0")
    with pytest.raises(SizeError, match="Ambiguous"):
        parse_rate("5M")


def test_lru_evicts_oldest_until_it_fits_and_frees_what_it_predicted(cache: Path) -> None:
    add_revision(cache, "a/old", C(1), {"w": b"o" * 1000}, ref="main", accessed=NOW - 10 * DAY)
    add_revision(cache, "a/mid", C(2), {"w": b"m" * 1000}, ref="main", accessed=NOW - 5 * DAY)
    add_revision(cache, "a/new", C(3), {"w": b"n" * 1000}, ref="main", accessed=NOW - 1 * DAY)
    plan = plan_budget(cache, max_size=2000, now=NOW)
    assert plan.size_before == 3000
    assert [e.repo for e in plan.evictions] == ["a/old"]
    assert [d.kind for d in plan.items] == ["repo"]
    assert plan.freed == 1000 and plan.size_after == 2000 and plan.fits
    execute_budget(plan)
    assert plan.freed_done == 1000 and not plan.skipped
    after = scan_cache(cache)
    assert after.size == plan.size_after
    assert {r.repo_id for r in after.repos} == {"a/mid", "a/new"}
    assert not (cache / ".locks" / "models--a--old" / "access").exists()


def test_shared_blob_is_freed_only_when_no_kept_revision_links_it(cache: Path) -> None:
    shared = {"tok": b"t" * 500}
    add_revision(cache, "a/m", C(1), {**shared, "w": b"1" * 1000}, accessed=NOW - 9 * DAY)
    add_revision(cache, "a/m", C(2), {**shared, "w": b"2" * 1000}, ref="main", accessed=NOW)
    plan = plan_budget(cache, max_size=2000, now=NOW)
    assert [e.commit for e in plan.evictions] == [C(1)]
    kinds = sorted((d.kind, d.size) for d in plan.items)
    assert kinds == [("blob", 1000), ("revision", 0)]  # the shared tokenizer stays
    execute_budget(plan)
    after = scan_cache(cache)
    assert after.size == 1500 == plan.size_after
    assert [r.commit for r in after.repos[0].revisions] == [C(2)]


def test_hardlinked_blobs_count_once_and_only_when_every_link_goes(cache: Path) -> None:
    data = b"h" * 4000
    a = add_revision(cache, "a/one", C(1), {"w": data}, ref="main", accessed=NOW - 9 * DAY)
    b = add_revision(cache, "a/two", C(2), {"w": b"x"}, ref="main", accessed=NOW - 8 * DAY)
    os.link(a.blob_path(_sha(data)), b.blob_path(_sha(data)))  # what `cache dedup` makes
    b.link_snapshot(C(2), "same", _sha(data))
    add_revision(cache, "a/three", C(3), {"w": b"y" * 10}, ref="main", accessed=NOW)
    assert scan_cache(cache).size == 4011
    one = plan_budget(cache, max_size=4010, now=NOW)
    assert [e.repo for e in one.evictions] == ["a/one", "a/two"]
    assert [e.frees for e in one.evictions] == [0, 4001]  # the inode goes with its last link
    assert one.freed == 4001 and one.size_after == 10


def test_pinned_and_in_use_revisions_are_never_evicted(cache: Path) -> None:
    add_revision(cache, "a/pinned", C(1), {"w": b"p" * 100}, accessed=NOW - 30 * DAY)
    busy = add_revision(
        cache, "a/busy", C(2), {"w": b"b" * 100}, ref="main", accessed=NOW - 20 * DAY
    )
    add_revision(cache, "a/free", C(3), {"w": b"f" * 100}, ref="main", accessed=NOW - 10 * DAY)
    etag = _sha(b"b" * 100)
    with busy.lock(etag):  # a download holds a blob lock of this repo
        plan = plan_budget(cache, max_size=0, now=NOW, pins=[("model", "a/pinned", C(1))])
        assert [e.repo for e in plan.evictions] == ["a/free"]
        assert {(r, why) for r, _c, why in plan.kept} == {
            ("a/pinned", "pinned by a lock file"),
            ("a/busy", "in use by a running download"),
        }
        assert not plan.fits and plan.size_after == 200
        # a download starting between plan and execution: the repo is skipped, not half-removed
        late = plan_budget(cache, max_size=0, now=NOW, pins=[("model", "a/pinned", C(1))])
    execute_budget(late)
    assert {r.repo_id for r in scan_cache(cache).repos} == {"a/pinned", "a/busy"}

    racing = plan_budget(cache, max_size=0, now=NOW, pins=[("model", "a/pinned", C(1))])
    assert [e.repo for e in racing.evictions] == ["a/busy"]
    with FlockLock(busy.lock_path(etag), timeout=0):
        execute_budget(racing)
    assert racing.skipped and racing.skipped[0][1] == "a download is running in this repo"
    assert (cache / "models--a--busy").exists()


def test_older_than_evicts_only_old_revisions_and_falls_back_to_file_times(cache: Path) -> None:
    add_revision(cache, "a/old", C(1), {"w": b"o"}, ref="main", accessed=NOW - 40 * DAY)
    add_revision(cache, "a/new", C(2), {"w": b"n"}, ref="main", accessed=NOW - 2 * DAY)
    rc = add_revision(cache, "a/hf", C(3), {"w": b"h"}, ref="main")  # no record: file times
    blob = rc.blob_path(_sha(b"h"))
    os.utime(blob, (NOW - 50 * DAY, NOW - 50 * DAY))
    os.utime(rc.snapshot_dir(C(3)), (NOW - 50 * DAY, NOW - 50 * DAY))
    plan = plan_budget(cache, older_than=30 * DAY, now=NOW)
    assert sorted(e.repo for e in plan.evictions) == ["a/hf", "a/old"]
    assert {e.repo: e.recorded for e in plan.evictions} == {"a/hf": False, "a/old": True}


def test_access_record_is_group_writable_and_refreshed(cache: Path) -> None:
    ref = RepoRef("a/m", "model")
    old = os.umask(0o002)
    try:
        touch_access(cache, ref, C(1))
    finally:
        os.umask(old)
    rec = cache / ".locks" / "models--a--m" / "access" / C(1)
    assert rec.stat().st_mode & 0o777 == 0o664
    os.utime(rec, (1.0, 1.0))
    touch_access(cache, ref, C(1))
    assert read_access(cache, "models--a--m")[C(1)] > 1.0
    touch_access(cache, ref, "not-a-commit")
    assert len(read_access(cache, "models--a--m")) == 1


def test_plain_prune_keeps_a_detached_revision_a_lock_pins(cache: Path) -> None:
    from hubcli.cache.clean import plan_prune

    add_revision(cache, "a/m", C(1), {"w": b"1"})
    add_revision(cache, "a/m", C(2), {"w": b"2"}, ref="main")
    plain = plan_prune(cache)
    assert [d.detail for d in plain.items if d.kind == "revision"] == [C(1)]
    pinned = plan_prune(cache, pins=[("model", "a/m", C(1))])
    assert not [d for d in pinned.items if d.kind == "revision"]
