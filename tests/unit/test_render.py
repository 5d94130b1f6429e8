"""hubcli.cli.render: human numbers, fixed-width rows that fit, plain vs fancy card rendering."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from hubcli.card import parse_card
from hubcli.cli.render import (
    SEARCH_COLUMNS,
    RowPrinter,
    files_table,
    human_count,
    human_size,
    render_card,
    short_date,
)
from hubcli.hashing import GitSha1, Sha256
from hubcli.models import DirEntry, FileEntry

BOX = set("─│╭╮╰╯┌┐└┘├┤┬┴┼━┃")


def console(width: int, *, fancy: bool = False) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    con = Console(
        file=buf,
        width=width,
        force_terminal=fancy,
        no_color=not fancy,
        color_system="truecolor" if fancy else None,
        highlight=False,
    )
    return con, buf


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (1234, "1.2k"),
        (1_200_000, "1.2M"),
        (999_999, "1M"),
        (3_400_000_000, "3.4B"),
        (2.5, "2.5"),
    ],
)
def test_human_count(n: int | float | None, text: str) -> None:
    assert human_count(n) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (570, "570 B"),
        (1500, "1.5 kB"),
        (4_300_000_000, "4.3 GB"),
        (440_449_768, "440.4 MB"),
        (999_990, "1.0 MB"),
    ],
)
def test_human_size(n: int | None, text: str) -> None:
    assert human_size(n) == text


def test_short_date() -> None:
    assert short_date("2024-05-02T08:30:00.000Z") == "2024-05-02"
    assert short_date(None) == "-"
    assert short_date("garbage-value") == "garbage-va"


@pytest.mark.parametrize("width", [30, 50, 80, 100, 160])
def test_row_printer_fits_and_truncates(width: int) -> None:
    con, buf = console(width)
    printer = RowPrinter(con, SEARCH_COLUMNS, fancy=False)
    printer.header()
    long_id = "org/" + "x" * 200
    printer.row([long_id, "text-classification", "1.2M", "42", "2024-01-01", "4.3 GB"])
    printer.row(["a/b", "-", "0", "0", "-", "-"])
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    assert all(len(line) <= max(width, 20) for line in lines), lines
    assert "…" in lines[1] and long_id not in lines[1]
    assert lines[2].startswith("a/b")
    assert "1.2M" in lines[1]  # the downloads column is never dropped
    if width >= 100:
        assert lines[0].split() == ["id", "task", "downloads", "likes", "updated", "size"]
    if width <= 50:
        assert "size" not in lines[0] and "updated" not in lines[0]


def test_files_table_plain_has_no_boxes() -> None:
    con, buf = console(80)
    entries = [
        FileEntry(path="config.json", size=570, blob_id=GitSha1("a" * 40)),
        FileEntry(
            path="m.safetensors",
            size=4_300_000_000,
            blob_id=GitSha1("b" * 40),
            lfs_sha256=Sha256("c" * 64),
        ),
        DirEntry(path="sub"),
    ]
    con.print(files_table(entries, fancy=False, cached={"config.json"}))
    out = buf.getvalue()
    assert not (set(out) & BOX)
    assert re.search(r"config\.json\s+570 B\s+yes", out)
    assert re.search(r"m\.safetensors\s+4\.3 GB\s+LFS", out)
    assert "sub/" in out


CARD = """---
license: mit
model-index:
- name: m
  results:
  - task: {name: Classification}
    dataset: {name: Data}
    metrics: [{name: Accuracy, value: 0.5}]
---
# Title

Text with a [link](https://example.org) and ![logo](https://example.org/logo.png).

| h1 | h2 |
|----|----|
| c1 | c2 |

```python
x = 1
```
"""


def test_plain_card_rendering() -> None:
    con, buf = console(80)
    cut = render_card(con, title="alice/m @ main", card=parse_card(CARD), fancy=False)
    out = buf.getvalue()
    assert not cut
    assert not (set(out) & BOX) and "\x1b[" not in out
    assert out.startswith("alice/m @ main\n==============\n")
    assert re.search(r"^license\s+mit$", out, re.M)
    assert re.search(r"Classification\s+Data\s+-\s+Accuracy\s+0\.5", out)
    assert "# Title" in out
    assert "link (https://example.org)" in out
    assert "[image: logo]" in out
    assert re.search(r"h1\s+h2", out) and re.search(r"c1\s+c2", out)
    assert "x = 1" in out
    assert all(line == line.rstrip() for line in out.splitlines())


def test_fancy_card_rendering_has_panel_and_colours() -> None:
    con, buf = console(80, fancy=True)
    render_card(con, title="alice/m @ main", card=parse_card(CARD), fancy=True)
    out = buf.getvalue()
    assert "╭" in out and "\x1b[" in out and "Accuracy" in out


def test_long_body_is_cut_for_display_without_an_open_fence() -> None:
    body = "intro\n\n```\n" + "code line\n" * 50_000 + "```\n\nafter\n"
    con, buf = console(80)
    cut = render_card(con, title="t", card=parse_card(body), fancy=False, max_body=10_000)
    out = buf.getvalue()
    assert cut and "card cut at" in out and "after" not in out
    assert out.count("code line") < 2_000
