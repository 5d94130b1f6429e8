"""The adaptive connection budget: grow while throughput grows, stop (or step back) when not."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from hubcli.download.run import Run
from hubcli.transfer.adaptive import Concurrency, Gate
from hubcli.transfer.job import MiB, auto_part_size


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def drive(conc: Concurrency, clock: Clock, rate_of: dict[int, float], steps: int) -> list[int]:
    """Feed ``conc`` a link whose throughput depends on the stream count; return the targets."""
    done = 1.0
    conc.observe(done)  # first progress starts the clock
    seen = [conc.target]
    for _ in range(steps):
        clock.t += conc.interval
        done += rate_of[conc.target] * conc.interval
        conc.observe(done)
        seen.append(conc.target)
    return seen


def test_grows_while_each_doubling_pays_then_stops_at_the_ceiling() -> None:
    clock = Clock()
    conc = Concurrency(8, 32, clock=clock)
    # A per-connection cap: throughput proportional to streams.
    seen = drive(conc, clock, {8: 160.0, 16: 320.0, 32: 640.0}, 5)
    assert seen[:4] == [8, 16, 32, 32]
    assert not conc.growing


def test_stops_growing_when_a_doubling_does_not_pay() -> None:
    clock = Clock()
    conc = Concurrency(8, 32, clock=clock)
    # CPU-bound (two cores): more streams buy nothing.
    seen = drive(conc, clock, {8: 1000.0, 16: 1050.0, 32: 1050.0}, 5)
    assert seen[-1] == 16 and not conc.growing


def test_steps_back_when_a_doubling_made_things_worse() -> None:
    clock = Clock()
    conc = Concurrency(8, 32, clock=clock)
    seen = drive(conc, clock, {8: 1000.0, 16: 1300.0, 32: 700.0}, 5)
    assert seen[:4] == [8, 16, 32, 16]
    assert seen[-1] == 16 and not conc.growing


def test_fixed_never_changes() -> None:
    clock = Clock()
    conc = Concurrency(3, 3, fixed=True, clock=clock)
    assert drive(conc, clock, {3: 100.0}, 4) == [3] * 5


def test_no_progress_yet_measures_nothing() -> None:
    clock = Clock()
    conc = Concurrency(8, 32, clock=clock)
    for _ in range(5):
        clock.t += 1
        assert conc.observe(0) == 8  # waiting for the first byte is not a throughput


def test_gate_caps_concurrency() -> None:
    assert _run_through(Gate(Concurrency(2, 2, fixed=True)), 8, 0.01) == 2


def test_part_size_follows_the_file_size() -> None:
    assert auto_part_size(64 * MiB) == 2 * MiB  # every stream of the budget has work
    assert auto_part_size(1024 * MiB) == 16 * MiB
    assert auto_part_size(100 * 1024 * MiB) == 64 * MiB
    assert auto_part_size(17 * MiB) == 2 * MiB
    assert auto_part_size(1024 * MiB + 1) % MiB == 0


class _CountingCondition(threading.Condition):
    """A condition that counts how often a waiter was woken."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0

    def wait(self, timeout: float | None = None) -> bool:
        woke = super().wait(timeout)
        self.wakeups += 1
        return woke


def _run_through(gate: Gate, tasks: int, pause: float) -> int:
    """Run ``tasks`` calls through ``gate`` from as many threads; return the most at once."""
    running = worst = 0
    lock = threading.Lock()

    def work(_: int) -> int:
        nonlocal running, worst
        with lock:
            running += 1
            worst = max(worst, running)
        time.sleep(pause)
        with lock:
            running -= 1
        return 1

    threads = [threading.Thread(target=gate.run, args=(work, i)) for i in range(tasks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)  # no waiter left asleep
    return worst


def test_gate_wakes_one_waiter_per_freed_slot_not_all_of_them() -> None:
    """20 threads on 2 slots: each finished call wakes one waiter. Waking them all (as the gate
    once did) costs every idle thread a wake-up per finished file: hundreds here, and ~300
    futex calls per file in a 200-file download."""
    gate = Gate(Concurrency(2, 2, fixed=True))
    cond = _CountingCondition()
    gate._cond = cond
    assert _run_through(gate, 20, 0.01) == 2
    assert cond.wakeups <= 2 * 20, cond.wakeups


def test_gate_wakes_waiters_when_the_target_grows() -> None:
    """A growing target lets as many more waiters in at once (nobody sleeps on a free slot)."""
    ticks = iter(range(1, 10_000))
    conc = Concurrency(2, 8, interval=0.5, gain=1.0, clock=lambda: float(next(ticks)))
    gate = Gate(conc)
    assert _run_through(gate, 24, 0.05) == 8
    assert conc.target == 8


def _groups(sizes: list[int]) -> list[list[Any]]:
    return [[SimpleNamespace(size=s)] for s in sizes]


def _budget(sizes: list[int], *, max_workers: int | None = None, rate: str | None = None) -> Any:
    run = SimpleNamespace(transfer_args={}, settings=SimpleNamespace(limit_rate=rate))
    return Run.file_concurrency(run, max_workers, _groups(sizes))  # type: ignore[arg-type]


def test_file_budget_starts_at_16_for_many_small_files() -> None:
    """Many small files are latency-bound from the first request (200 x 4 KiB at 20 ms: 0.61-0.67 s
    starting at 8 streams, 0.49-0.52 s at 16); a few, or big ones among them, start at 8."""
    many = _budget([4096] * 64)
    assert (many.target, many.ceiling, many.growing) == (16, 32, True)
    few = _budget([4096] * 63)
    assert (few.target, few.growing) == (8, True)
    big = _budget([4096] * 100 + [1 << 30])
    assert (big.target, big.growing) == (8, False)  # each big file runs its own ranged streams
    assert not _budget([4096] * 100, rate="1M").growing  # a rate cap: no growth
    fixed = _budget([4096] * 100, max_workers=3)
    assert (fixed.target, fixed.growing) == (3, False)
