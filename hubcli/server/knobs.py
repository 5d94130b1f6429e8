"""Test and benchmark knobs: latency, per-connection bandwidth, failure injection, request log.
The transport (``asgi``) applies them; they are plain values here."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Knobs:
    """Runtime-tunable behaviour; safe to change while the server runs."""

    latency_ms: float = 0.0
    bandwidth_mbps: float = 0.0  # MB/s per connection, 0 = unlimited
    upload_bandwidth_mbps: float = 0.0  # MB/s per connection for request bodies, 0 = unlimited
    fail_rate: float = 0.0  # probability of dropping a file GET mid-body
    seed: int | None = None
    lfs_threshold: int = 10 * 1024 * 1024
    multipart_threshold: int = 64 * 1024 * 1024
    multipart_chunk_size: int = 16 * 1024 * 1024
    page_size: int = 1000
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.reseed(self.seed)

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def should_fail(self) -> bool:
        if self.fail_rate <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.fail_rate

    def fail_point(self, length: int) -> int:
        """How many body bytes to send before dropping the connection."""
        with self._lock:
            return int(length * self._rng.uniform(0.2, 0.8))


MAX_LOG_ITEMS = 100_000  # kept in memory (the oldest half is dropped past it)
MAX_LOG_FIELD = 2048  # characters kept of a logged string (path, user agent, ...)


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_LOG_FIELD:
        return value[:MAX_LOG_FIELD] + "..."
    return value


class RequestLog:
    """In-memory request list (for fixtures) plus an optional JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self._items: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._inflight = 0
        self._fh = open(path, "a", buffering=1, encoding="utf-8") if path else None  # noqa: SIM115

    def begin(self) -> None:
        """A request is being answered (its entry is added when its last byte was sent)."""
        with self._lock:
            self._inflight += 1

    def end(self) -> None:
        with self._lock:
            self._inflight -= 1
            self._lock.notify_all()

    def add(self, item: dict[str, Any]) -> None:
        # a client controls the path and headers: keep what one entry can cost bounded
        item = {k: _clip(v) for k, v in item.items()}
        line = json.dumps(item, separators=(",", ":")) + "\n" if self._fh else ""
        with self._lock:
            self._items.append(item)
            if len(self._items) > MAX_LOG_ITEMS:
                del self._items[: MAX_LOG_ITEMS // 2]
            if self._fh:
                self._fh.write(line)

    def items(self, settle: float = 0.5) -> list[dict[str, Any]]:
        """The entries so far, after waiting (up to ``settle`` seconds) for the requests being
        answered to finish: a client may hold a response's last byte before the server has
        written that response's entry."""
        deadline = time.monotonic() + settle
        with self._lock:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def close(self) -> None:
        with self._lock:
            if self._fh:
                self._fh.close()
                self._fh = None
