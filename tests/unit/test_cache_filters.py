"""`cache ls` filter expressions and human formatting."""

from __future__ import annotations

import pytest

from hubcli.cli.cache_view import human_age, human_size, matches, parse_filter
from hubcli.errors import UsageError

NOW = 1_000_000_000.0
ROW = {
    "repo_id": "alice/m",
    "repo_type": "dataset",
    "size": 2_500_000_000,
    "files": 3,
    "refs": ["main", "refs/pr/1"],
    "last_accessed": NOW - 40 * 86400,
    "last_modified": NOW - 3600,
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("size>1GB", True),
        ("size>2.4GiB", False),
        ("size<=3GB", True),
        ("accessed>30d", True),
        ("accessed<30d", False),
        ("modified<2h", True),
        ("type=dataset", True),
        ("type=datasets", True),
        ("type!=dataset", False),
        ("name=alice/*", True),
        ("id=dataset/alice/m", True),
        ("refs=refs/pr/*", True),
        ("files>=4", False),
    ],
)
def test_filters(expr: str, expected: bool) -> None:
    assert matches(ROW, [parse_filter(expr)], NOW) is expected


@pytest.mark.parametrize("expr", ["size", "colour=red", "size>lots", "accessed>5 fortnights"])
def test_bad_filters_are_usage_errors(expr: str) -> None:
    with pytest.raises(UsageError):
        matches(ROW, [parse_filter(expr)], NOW)


def test_human_formats() -> None:
    assert human_size(999) == "999 B" and human_size(1500) == "1.5 kB"
    assert human_size(2_500_000_000) == "2.5 GB"
    assert human_age(NOW - 3 * 86400, NOW) == "3 days ago" and human_age(0, NOW) == "-"
