"""hubcli.cache.listing: the `cache ls` model (rows, filters, sort, totals) without the CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubcli.cache.layout import RepoCache
from hubcli.cache.listing import CacheFilter, CacheRow, list_cache, parse_sort
from hubcli.cli.cache_view import human_age
from hubcli.errors import UsageError
from hubcli.repo import RepoRef
from tests.unit.test_cache_bundle import C1, FILES, build_cache, git_sha1

NOW = 1_000_000_000.0
C2 = "2" * 40
ROW = CacheRow(
    repo_id="alice/m",
    repo_type="dataset",
    path="/cache/datasets--alice--m",
    size=2_500_000_000,
    files=3,
    refs=("main", "refs/pr/1"),
    last_accessed=NOW - 40 * 86400,
    last_modified=NOW - 3600,
    revisions=1,
)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("size>1GB", True),
        ("size>2.4GiB", False),
        ("size<=3GB", True),
        ("size > 2500000000", False),
        ("accessed>30d", True),
        ("accessed<30d", False),
        ("modified<2h", True),
        ("type=dataset", True),
        ("type=datasets", True),
        ("type!=dataset", False),
        ("name=alice/*", True),
        ("id=dataset/alice/m", True),
        ("name!=bob/*", True),
        ("refs=refs/pr/*", True),
        ("files>=4", False),
    ],
)
def test_filters(expr: str, expected: bool) -> None:
    assert CacheFilter.parse(expr).matches(ROW, NOW) is expected


@pytest.mark.parametrize(
    "expr",
    ["size", "colour=red", "size>lots", "size>1G", "accessed>5 fortnights", "files>many", "name>a"],
)
def test_bad_filters_are_usage_errors_when_parsed(expr: str) -> None:
    with pytest.raises(UsageError):
        CacheFilter.parse(expr)


def test_bare_multiplier_in_a_size_filter_says_how_to_write_it() -> None:
    with pytest.raises(UsageError, match=r"1GB .* 1GiB"):
        CacheFilter.parse("size>1G")


def test_parse_sort() -> None:
    assert parse_sort("name") == ("name", "asc")
    assert parse_sort("size") == ("size", "desc")
    assert parse_sort("size:asc") == ("size", "asc")
    assert parse_sort("accessed:desc") == ("accessed", "desc")
    for bad in ("colour", "size:up", ""):
        with pytest.raises(UsageError):
            parse_sort(bad)


def test_human_age() -> None:
    assert human_age(NOW - 3 * 86400, NOW) == "3 days ago" and human_age(0, NOW) == "-"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """alice/m (model, two revisions), alice/big (model), bob/d (dataset)."""
    root = tmp_path / "cache"
    root.mkdir()
    m = build_cache(root, FILES, repo="alice/m")
    etag = git_sha1(b"v2")
    m.blob_path(etag).write_bytes(b"v2")
    m.link_snapshot(C2, "config.json", etag)
    m.write_ref("dev", C2)
    build_cache(root, {"w.bin": b"\x01" * 5000}, repo="alice/big")
    d = RepoCache(root, RepoRef("bob/d", "dataset"))
    d.ensure_dirs()
    etag = git_sha1(b"rows")
    d.blob_path(etag).write_bytes(b"rows")
    d.link_snapshot(C1, "data.csv", etag)
    d.write_ref("main", C1)
    old = NOW - 90 * 86400
    for blob in (root / "datasets--bob--d" / "blobs").iterdir():
        os.utime(blob, (old, old))
    return root


def test_list_cache_rows_sort_and_total(cache: Path) -> None:
    listing = list_cache(cache, now=NOW)
    assert [r.display_id for r in listing.rows] == [
        "datasets/bob/d",
        "alice/big",
        "alice/m",
    ]
    m = listing.rows[2]
    assert m.revisions == 2 and m.refs == ("dev", "main", "refs/pr/1") and m.revision is None
    assert m.size == sum(len(v) for v in FILES.values()) + 2
    assert listing.size == sum(r.size for r in listing.rows)  # nothing shared here
    assert listing.warnings == () and not listing.per_revision

    by_size = list_cache(cache, sort="size", now=NOW)
    assert [r.repo_id for r in by_size.rows] == ["alice/big", "alice/m", "bob/d"]
    smallest = list_cache(cache, sort="size", order="asc", limit=1, now=NOW)
    assert [r.repo_id for r in smallest.rows] == ["bob/d"] and smallest.size == 4


def test_list_cache_filters_and_revisions(cache: Path) -> None:
    models = list_cache(cache, repo_type="model", filters=["size>1kB"], now=NOW)
    assert [r.repo_id for r in models.rows] == ["alice/big"] and models.size == 5000
    stale = list_cache(cache, filters=[CacheFilter.parse("accessed>30d")], now=NOW)
    assert [r.repo_id for r in stale.rows] == ["bob/d"]

    revs = list_cache(cache, per_revision=True, filters=["name=alice/m"], now=NOW)
    assert revs.per_revision and [r.revision for r in revs.rows] == [C1, C2]
    assert revs.rows[1].refs == ("dev",) and revs.rows[1].size == 2
    doc = revs.to_json()
    assert doc["total"] == {"rows": 2, "size": revs.size}
    assert doc["rows"][0]["revision"] == C1 and doc["rows"][0]["snapshot_path"].endswith(C1)
    assert "revisions" not in doc["rows"][0]


def test_list_cache_refuses_bad_filters_before_listing(cache: Path) -> None:
    with pytest.raises(UsageError):
        list_cache(cache, filters=["size>2M"])
