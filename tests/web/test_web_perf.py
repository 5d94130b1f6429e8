"""Render time of the heavy pages: a repo with 10,000 files (card and first tree page) and a big
card (first render, then from the render cache). Figures are printed (``-s``) and in docs/web.md;
the bounds are loose because the test machine is shared."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import requests

from tests.fixtures.hub import HubFixture

SECTION = """
## Section {i}

Some *text* with a [link](https://example.com/{i}) and `code`, and a table:

| metric | value |
|--------|-------|
| acc    | 0.{i} |

```python
def f{i}(x):
    return x * {i}  # a comment
```
"""


def _time(url: str, n: int = 5) -> tuple[float, float]:
    """(first, median of the next n) in ms."""
    t = time.perf_counter()
    assert requests.get(url, timeout=60).status_code == 200
    first = (time.perf_counter() - t) * 1000
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        r = requests.get(url, timeout=60)
        runs.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return first, statistics.median(runs)


def test_big_repo_and_big_card_render_fast(
    hub_server_factory: Callable[..., HubFixture],
) -> None:
    srv = hub_server_factory()
    files: dict[str, bytes | str] = {f"data/shard-{i:05d}.json": f"{i}\n" for i in range(9_000)}
    files.update({f"f{i:04d}.txt": "x" for i in range(999)})
    card = "# Big card\n" + "".join(SECTION.format(i=i) for i in range(1500))
    files["README.md"] = card
    srv.seed_repo("alice/big", files)
    base = srv.url + "/alice/big"
    figures = {
        f"card (10,000 files, {len(card) // 1000} kB card)": _time(base),
        "tree root, first 50 of 1,000 entries": _time(base + "/tree/main"),
        "tree data/, first 50 of 9,000 entries": _time(base + "/tree/main/data"),
        "tree data/, entries 8,950-9,000": _time(base + "/tree/main/data?offset=8950"),
        "blob data/shard-00042.json": _time(base + "/blob/main/data/shard-00042.json"),
    }
    for name, (first, median) in figures.items():
        print(f"{name}: first {first:.0f} ms, then median {median:.1f} ms")
    for name, (_first, median) in figures.items():
        assert median < 1000, name
