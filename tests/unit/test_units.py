"""hubcli.units: one human size (decimal, as the Hub) and one size parser."""

from __future__ import annotations

import pytest

from hubcli.units import SizeError, human_rate, human_size, parse_size


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (532, "532 B"),
        (999, "999 B"),
        (999.6, "1.0 kB"),
        (1000, "1.0 kB"),
        (1500, "1.5 kB"),
        (1_200_000, "1.2 MB"),
        (999_960, "1.0 MB"),
        (4_300_000_000, "4.3 GB"),
        (2 * 10**12, "2.0 TB"),
        (3 * 10**15, "3.0 PB"),
        (-1500, "-1.5 kB"),
    ],
)
def test_human_size(n: float | None, text: str) -> None:
    assert human_size(n) == text


def test_human_rate() -> None:
    assert human_rate(12_345_678) == "12.3 MB/s" and human_rate(10) == "10 B/s"


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("0", 0),
        ("1024", 1024),
        (" 1024 ", 1024),
        ("1024B", 1024),
        ("1kB", 1000),
        ("1KB", 1000),
        ("1kb", 1000),
        ("1.5 MB", 1_500_000),
        ("500mb", 500_000_000),
        ("2GB", 2 * 10**9),
        ("1TB", 10**12),
        ("1KiB", 1024),
        ("1kib", 1024),
        ("500MiB", 500 * 2**20),
        ("2.4GiB", round(2.4 * 2**30)),
        ("1TiB", 2**40),
        (".5MB", 500_000),
        ("1 PB", 10**15),
        ("1PiB", 2**50),
        (7, 7),
    ],
)
def test_parse_size(text: str | int, n: int) -> None:
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["1M", "1m", "2G", "3K", "1T", "5Mi", "2gi"])
def test_bare_multiplier_is_refused_with_both_spellings(text: str) -> None:
    with pytest.raises(SizeError) as info:
        parse_size(text)
    message = str(info.value)
    assert "Ambiguous" in message and "B (powers of 1000)" in message and "iB" in message


@pytest.mark.parametrize("text", ["", "lots", "-1", "1.5", "1e3", "MB", "1,000", "1 B B"])
def test_unreadable_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_negative_int_refused() -> None:
    with pytest.raises(SizeError):
        parse_size(-1)
