"""PacedBody: an upload body read through the process token bucket (upload --limit-rate)."""

from __future__ import annotations

import io
import threading
import time

from hubcli.transfer.ratelimit import PacedBody, TokenBucket, paced


class _Body(io.BytesIO):
    def __len__(self) -> int:
        return len(self.getvalue())


def test_paced_body_reads_everything_at_the_rate() -> None:
    body = _Body(b"x" * 400_000)
    p = PacedBody(body, TokenBucket(1_000_000, burst=50_000))
    assert len(p) == 400_000
    t0 = time.monotonic()
    got = b"".join(iter(lambda: p.read(65536), b""))
    elapsed = time.monotonic() - t0
    assert got == b"x" * 400_000
    assert elapsed >= 0.3  # (400 kB - 50 kB burst) at 1 MB/s
    p.close()
    assert body.closed


def test_no_rate_is_the_body_itself_and_cancel_ends_the_wait() -> None:
    body = _Body(b"y")
    assert paced(body, None) is body
    cancel = threading.Event()
    cancel.set()
    p = PacedBody(_Body(b"z" * 1_000_000), TokenBucket(1000, burst=1000), cancel)
    t0 = time.monotonic()
    assert len(p.read(1_000_000)) == 1_000_000
    assert time.monotonic() - t0 < 0.5  # a wait of ~1000 s, cut by the cancel event
