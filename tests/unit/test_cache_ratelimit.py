"""hubcli.transfer.ratelimit: the token bucket behind --limit-rate, and Streams.pace."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from hubcli.config import resolve_settings
from hubcli.errors import UsageError
from hubcli.liveness import StallMeter
from hubcli.transfer.adaptive import Concurrency
from hubcli.transfer.ratelimit import RATE_STREAMS, TokenBucket, parse_limit_rate, process_bucket
from hubcli.transfer.stream import Streams


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_bucket_averages_the_rate_over_many_reads() -> None:
    clock = Clock()
    bucket = TokenBucket(1_000_000, burst=100_000, clock=clock)
    total_wait = 0.0
    for _ in range(50):  # 50 reads of 100 kB = 5 MB at 1 MB/s: 5 s, however the reads fall
        wait = bucket.reserve(100_000)
        total_wait += wait
        clock.t += wait
    assert total_wait == pytest.approx(5.0, rel=1e-6)


def test_bucket_is_shared_by_concurrent_readers_and_caps_bursts() -> None:
    clock = Clock()
    bucket = TokenBucket(1000, burst=500, clock=clock)
    clock.t += 3600  # an idle hour buys at most one burst
    assert bucket.reserve(500) == 0
    # two connections reading at the same instant queue behind each other
    assert bucket.reserve(1000) == pytest.approx(1.0)
    assert bucket.reserve(1000) == pytest.approx(2.0)


def test_process_bucket_is_one_per_rate_and_rates_parse() -> None:
    assert process_bucket(123_456) is process_bucket(123_456)
    assert parse_limit_rate(None) is None
    assert parse_limit_rate("5MB") == 5_000_000
    assert parse_limit_rate("2MiB/s") == 2 * 2**20
    with pytest.raises(UsageError, match="Ambiguous"):
        parse_limit_rate("5M")
    s = resolve_settings(env={"HUBCLI_LIMIT_RATE": "20MB"})
    assert s.limit_rate == "20MB" and s.source("limit_rate") == "env:HUBCLI_LIMIT_RATE"
    assert resolve_settings(limit_rate="1MB", env={"HUBCLI_LIMIT_RATE": "20MB"}).limit_rate == (
        "1MB"
    )


def _streams(rate: str | None) -> Streams:
    session: Any = SimpleNamespace(
        settings=resolve_settings(limit_rate=rate, env={}), sleep=lambda s: None
    )
    return Streams(session, mirrors=SimpleNamespace(), max_attempts=3)  # type: ignore[arg-type]


def test_pace_waits_outside_the_stall_meter_and_stops_on_cancel() -> None:
    streams = _streams("1MB")
    waits: list[float] = []
    meter = StallMeter(window=1.0, min_rate=1024)

    class Cancel(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(meter._pause_depth)  # type: ignore[attr-defined]
            return False

    streams.cancel = Cancel()
    streams.pace(2_000_000, meter)
    assert waits == [1]  # the wait ran inside meter.excluded()
    assert meter._pause_depth == 0  # type: ignore[attr-defined]
    assert _streams(None).bucket is None


def test_a_rate_fixes_the_ranged_streams() -> None:
    from hubcli.transfer.engine import Transfer

    session: Any = SimpleNamespace(
        settings=resolve_settings(limit_rate="5MB", env={}),
        sleep=lambda s: None,
        mirrors_order=lambda first=None: SimpleNamespace(),
    )
    budget: Concurrency = Transfer(session).concurrency()
    assert budget.fixed and budget.target == RATE_STREAMS
    session.settings = resolve_settings(env={})
    assert not Transfer(session).concurrency().fixed
    fixed = Transfer(session, range_workers=2).concurrency()  # --max-workers wins
    assert fixed.fixed and fixed.target == 2
