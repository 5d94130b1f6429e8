"""Shared benchmark helpers: a local hub subprocess, timed runs, medians, peak RSS, result files."""

from __future__ import annotations

import functools
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PY = sys.executable
TOKEN = "hf_bench_token"
USER = "bench"


def compile_hubcli() -> None:
    """Write hubcli's bytecode, as installing a wheel does.

    The benchmarks run hubcli from the editable checkout; with PYTHONDONTWRITEBYTECODE set (as on
    this machine) every run would compile our modules from source (~20 ms), a cost no installed
    package pays: huggingface_hub's bytecode was written by pip when it was installed.
    """
    import compileall

    compileall.compile_dir(str(ROOT / "hubcli"), quiet=1)


compile_hubcli()


@dataclass
class Server:
    """A `python -m hubcli.server` subprocess on a free port."""

    url: str
    root: Path
    proc: subprocess.Popen[str]
    log: Path | None = None
    log_mark: int = 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def requests(self) -> list[dict[str, Any]]:
        """The server's request log (needs ``log=True`` at start)."""
        if not self.log or not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    root: Path | None = None,
    *,
    latency_ms: float = 0,
    bandwidth_mbps: float = 0,
    log: bool = False,
    extra: Sequence[str] = (),
) -> Server:
    """Start the local hub as a subprocess and wait for its URL line."""
    root = root or Path(tempfile.mkdtemp(prefix="hubcli-bench-root-"))
    log_path = root.parent / f"{root.name}.requests.jsonl" if log else None
    cmd = [PY, "-m", "hubcli.server", "--root", str(root), "--port", "0"]
    cmd += ["--token", f"{TOKEN}:{USER}"]
    if latency_ms:
        cmd += ["--latency-ms", str(latency_ms)]
    if bandwidth_mbps:
        cmd += ["--bandwidth", str(bandwidth_mbps)]
    if log_path:
        cmd += ["--log", str(log_path)]
    cmd += list(extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"server did not start: {url!r}")
    return Server(url=url, root=root, proc=proc, log=log_path)


def start_stdlib_hub(
    repos: dict[str, Path], *, latency_ms: float = 0, bandwidth_mbps: float = 0
) -> Server:
    """Start benchmarks/stdlib_hub.py (the stock ``http.server`` hub) serving ``repos``
    (repo id -> folder), each folder one repo at one commit."""
    cmd = [PY, str(ROOT / "benchmarks" / "stdlib_hub.py")]
    cmd += [f"--repo={repo_id}={folder}" for repo_id, folder in repos.items()]
    cmd += ["--latency-ms", str(latency_ms), "--bandwidth", str(bandwidth_mbps)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"stdlib hub did not start: {url!r}")
    return Server(url=url, root=next(iter(repos.values())), proc=proc)


def peak_streams(server: Server) -> int:
    """The most file bodies the server streamed at once since the last call (connections used
    in parallel): the stdlib hub counts them, ``hubcli serve`` is read from its request log."""
    if server.log is None:
        import urllib.request

        with urllib.request.urlopen(f"{server.url}/_stats", timeout=10) as resp:
            return int(json.loads(resp.read())["peak_streams"])
    events: list[tuple[float, int]] = []
    for r in server.requests()[server.log_mark :]:
        if r.get("method") == "GET" and r.get("bytes", 0) > 0 and "/api/" not in r["path"]:
            events += [(r["t0"], 1), (r["t"], -1)]
    server.log_mark = len(server.requests())
    peak = active = 0
    for _, step in sorted(events):
        active += step
        peak = max(peak, active)
    return peak


def hf_env(url: str, cache: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment for huggingface_hub / hubcli subprocesses pointed at the local hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=url,
        HF_TOKEN=TOKEN,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_UPDATE_CHECK="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    if cache is not None:
        env["HF_HUB_CACHE"] = str(cache)
        env["HF_HOME"] = str(cache.parent / "hf_home")
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 1800) -> None:
    """Run a Python snippet in a subprocess (huggingface_hub reads env at import)."""
    subprocess.run([PY, "-c", code], env=env, check=True, timeout=timeout)


def seed_with_hf(url: str, repo_id: str, folder: Path, *, repo_type: str = "model") -> None:
    """Upload ``folder`` to the local hub with huggingface_hub (plain LFS, no Xet)."""
    code = (
        "from huggingface_hub import HfApi\n"
        "api = HfApi()\n"
        f"api.create_repo({repo_id!r}, repo_type={repo_type!r}, exist_ok=True)\n"
        f"api.upload_folder(repo_id={repo_id!r}, repo_type={repo_type!r}, "
        f"folder_path={str(folder)!r})\n"
    )
    run_python(code, hf_env(url))


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


def time_runs(
    fn: Callable[[], Any], *, runs: int = 3, setup: Callable[[], Any] | None = None
) -> Timing:
    """Median-friendly timing: ``setup`` (untimed) before each of ``runs`` timed calls."""
    t = Timing()
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        t.samples.append(time.perf_counter() - start)
    return t


def time_interleaved(
    fns: Sequence[Callable[[], Any]],
    *,
    runs: int = 3,
    setup: Callable[[], Any] | None = None,
) -> list[Timing]:
    """Time ``fns`` interleaved, the order turning each round (a b c, b c a, c a b, ...), so that
    drift in the machine (page cache, memory, other load) falls on all alike; ``setup`` runs
    untimed before each call."""
    timings = [Timing() for _ in fns]
    for i in range(runs):
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            if setup:
                setup()
            start = time.perf_counter()
            fns[j]()
            timings[j].samples.append(time.perf_counter() - start)
    return timings


def time_pair(
    a: Callable[[], Any],
    b: Callable[[], Any],
    *,
    runs: int = 3,
    setup: Callable[[], Any] | None = None,
) -> tuple[Timing, Timing]:
    """:func:`time_interleaved` for two."""
    ta, tb = time_interleaved([a, b], runs=runs, setup=setup)
    return ta, tb


def ratio_row(
    scenario: str,
    server: str,
    ours: Timing,
    other: Timing | list[float],
    *,
    other_name: str = "hf",
    target: float,
    note: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One row of the issue's table: hubcli / other per interleaved round; the ratio is the median
    of the per-round ratios, the spread their min-max; met = ratio <= target."""
    theirs = other.samples if isinstance(other, Timing) else list(other)
    ratios = [a / b for a, b in zip(ours.samples, theirs, strict=True)]
    ratio = statistics.median(ratios)
    return {
        "scenario": scenario,
        "server": server,
        "unit": "s",
        "hubcli": ours.median,
        "other": statistics.median(theirs),
        "other_name": other_name,
        "ratio": ratio,
        "spread": [min(ratios), max(ratios)],
        "runs": len(ratios),
        "target": f"<= {target:g}x",
        "met": ratio <= target,
        "note": note,
        "hubcli_samples": [round(x, 4) for x in ours.samples],
        "other_samples": [round(x, 4) for x in theirs],
        **extra,
    }


def rss_row(
    scenario: str, server: str, ours: float, other: float | None, *, target: float, note: str = ""
) -> dict[str, Any]:
    """A peak-RSS row (MiB); met = hubcli's peak <= target."""
    return {
        "scenario": scenario,
        "server": server,
        "unit": "MiB",
        "hubcli": ours,
        "other": other,
        "other_name": "hf",
        "ratio": ours / other if other else None,
        "spread": None,
        "target": f"<= {target:g} MiB",
        "met": ours <= target,
        "note": note,
    }


def scratch_dir(prefix: str, need_bytes: int) -> Path:
    """A fresh directory on tmpfs (/dev/shm) when it has room, else in the temp dir.

    Benchmarks measure the clients, not this machine's disk: on tmpfs the server's stored
    objects never wait on writeback.
    """
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize > 2 * need_bytes:
            return Path(tempfile.mkdtemp(prefix=prefix, dir=shm))
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix=prefix))


def run_cmd(cmd: Sequence[str], env: dict[str, str], timeout: float = 1800) -> float:
    """Run a command, return its wall time; raise if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return elapsed


def time_commands(
    cmds: Sequence[Sequence[str]], env: dict[str, str], *, runs: int = 3
) -> list[Timing]:
    """:func:`time_interleaved` for commands (each run must succeed)."""
    return time_interleaved([functools.partial(run_cmd, c, env) for c in cmds], runs=runs)


def peak_rss_mib(cmd: Sequence[str], env: dict[str, str], timeout: float = 1800) -> float:
    """Run ``cmd`` and return the peak RSS (MiB) of it and its waited-for children."""
    code = (
        "import resource, subprocess, sys\n"
        "rc = subprocess.run(sys.argv[1:]).returncode\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [PY, "-c", code, *cmd], env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed: {proc.stderr[-800:]}")
    kib = int(proc.stdout.strip().splitlines()[-1])
    return kib / 1024


def self_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(
    area: str, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{area}.json"
    path.write_text(json.dumps({"area": area, "meta": meta or {}, "rows": rows}, indent=2))
    return path


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A markdown table on stdout."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")
