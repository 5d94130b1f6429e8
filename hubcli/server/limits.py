"""Resource limits of the local hub: request body caps, the shared body-memory budget and the
connection cap. The defaults and why they are enough for the protocol are in docs/server.md.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass
class Limits:
    """Caps on what one client can make the server read, hold or run."""

    # JSON bodies that can be long (preupload, paths-info, LFS batch, validate-yaml, multipart
    # completion): 10,000 preupload entries of a 512-byte sample (684 base64 chars) and a path of up
    # to 800 bytes are ~15.5 MB.
    max_json: int = 16 * MIB
    # JSON bodies that are always short (repo create/move/delete, settings, branch, tag,
    # discussions, LFS verify).
    small_json: int = 64 * KIB
    max_commit_size: int = 2 * GIB  # whole NDJSON commit body (streamed, never held in memory)
    max_commit_ops: int = 100_000  # operations in one commit
    commit_line_slack: int = 64 * KIB  # per line, on top of the base64 of the largest regular file
    body_budget: int = 256 * MIB  # request body bytes held in memory at once, all clients together
    budget_wait: float = 10.0  # seconds a request waits for budget before a 503
    max_connections: int = 256  # open connections (one handler thread each), API + CDN together
    slot_wait: float = 0.5  # seconds a new connection waits for a free slot before a 503
    idle_timeout: float = 120.0  # seconds a connection may stay silent (keep-alive or mid-body)
    url_ttl: float = 3600.0  # lifetime of a signed CDN URL, seconds
    # threads that run the endpoints (they block on disk, hashing, bodies arriving); requests past
    # them wait for one. 0: as many as connections, at most 64.
    worker_threads: int = 0
    shutdown_grace: float = 10.0  # seconds answers in flight may take to finish on stop

    def threads(self) -> int:
        """The size of the worker thread pool."""
        if self.worker_threads > 0:
            return self.worker_threads
        return max(1, min(64, self.max_connections))

    def commit_line_cap(self, lfs_threshold: int) -> int:
        """The longest NDJSON commit line: base64 of the largest regular file (just under the LFS
        threshold) plus room for the JSON around it and a long, escaped path."""
        return 4 * math.ceil(max(0, lfs_threshold) / 3) + self.commit_line_slack


class ByteBudget:
    """A counting semaphore in bytes: request bodies reserve what they may hold in memory."""

    def __init__(self, total: int) -> None:
        self.total = max(1, total)
        self._used = 0
        self._cond = threading.Condition()

    @property
    def used(self) -> int:
        with self._cond:
            return self._used

    def acquire(self, n: int, timeout: float) -> int:
        """Reserve ``n`` bytes (at most the whole budget); return what was reserved, or -1 when
        the budget did not free up within ``timeout`` seconds."""
        n = min(max(0, n), self.total)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._used + n > self.total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return -1
                self._cond.wait(left)
            self._used += n
        return n

    def release(self, n: int) -> None:
        if n <= 0:
            return
        with self._cond:
            self._used -= n
            self._cond.notify_all()
