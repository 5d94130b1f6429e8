"""A cold ``Range`` far past a big blob's fill is answered by its own upstream ``Range`` request
(parquet footers, safetensors tails, resumed downloads), while the fill goes on and stores the
verified blob once."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import requests

from tests.fixtures.hub import HubFixture
from tests.mirror.conftest import Mirror, file_gets, sha256


def test_cold_range_far_ahead_gets_its_own_upstream_request(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    up = hub_server_factory(bandwidth_mbps=4)
    big = os.urandom(24 * 1024 * 1024)  # ~6 s for the fill at 4 MB/s
    up.seed_repo("alice/big", {"model.safetensors": big})
    mirror = mirror_factory([up.url])
    url = f"{mirror.url}/alice/big/resolve/main/model.safetensors"
    start = 20 * 1024 * 1024
    t0 = time.monotonic()
    r = requests.get(url, headers={"Range": f"bytes={start}-{start + 99_999}"}, timeout=60)
    took = time.monotonic() - t0
    assert r.status_code == 206 and r.content == big[start : start + 100_000]
    assert r.headers["Content-Range"] == f"bytes {start}-{start + 99_999}/{len(big)}"
    assert took < 3, took  # not the ~5 s the fill needs to reach the offset
    assert mirror.core.metrics.get("direct_ranges_total") == 1
    # the tail of the file too (a suffix range), then the whole body from the same single fill
    r = requests.get(url, headers={"Range": "bytes=-1000"}, timeout=60)
    assert r.status_code == 206 and r.content == big[-1000:]
    assert requests.get(url, timeout=60).content == big
    assert mirror.core.metrics.get("fills_total") == 1
    gets = file_gets(up, "/_cdn/")
    assert [g["bytes"] for g in gets if g["bytes"] == len(big)] == [len(big)]  # one fill
    assert sum(g["bytes"] for g in gets) == len(big) + 100_000 + 1000  # + the two ranges
    assert sha256(big) in [p.name for p in mirror.blobs()]
