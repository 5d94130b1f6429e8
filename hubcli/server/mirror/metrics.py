"""The mirror's counters and their Prometheus text form (``/metrics``)."""

from __future__ import annotations

import threading

HELP = {
    "hits_total": ("counter", "file answers served from the mirror's store"),
    "misses_total": ("counter", "file answers that needed an upstream fill"),
    "bytes_served_total": ("counter", "bytes of file answers (store, shared cache and fills)"),
    "upstream_bytes_fetched_total": ("counter", "bytes received from upstreams"),
    "upstream_requests_total": ("counter", "requests sent to upstreams"),
    "upstream_errors_total": ("counter", "upstream requests that failed or broke the protocol"),
    "fills_total": ("counter", "blob fills started"),
    "fills_failed_total": ("counter", "blob fills that failed (nothing was stored)"),
    "verify_failures_total": ("counter", "blobs whose bytes did not match their hash"),
    "stale_answers_total": ("counter", "answers from an expired pin while upstreams were down"),
    "fills_in_progress": ("gauge", "blob fills running now"),
    "evictions_total": ("counter", "blobs removed to keep the store under --max-size"),
    "evicted_bytes_total": ("counter", "bytes of the blobs removed for --max-size"),
    "store_bytes": ("gauge", "bytes of the blobs in the store (counted with --max-size)"),
    "direct_ranges_total": ("counter", "cold Range requests answered by their own upstream Range"),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, float] = dict.fromkeys(HELP, 0)

    def inc(self, name: str, n: float = 1) -> None:
        with self._lock:
            self._values[name] = self._values.get(name, 0) + n

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self._values[name] = value

    def get(self, name: str) -> float:
        with self._lock:
            return self._values.get(name, 0)

    def text(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, value in self._values.items():
                kind, text = HELP.get(name, ("counter", name))
                full = f"hubcli_mirror_{name}"
                lines += [f"# HELP {full} {text}", f"# TYPE {full} {kind}", f"{full} {value:g}"]
        return "\n".join(lines) + "\n"
