"""Benchmark: `hubcli serve --upstream` (the pull-through mirror of issue 16).

* warm mirror vs direct: `hf download` of a 200-file repo, straight from an upstream with 100 ms
  latency (a WAN-like link) and through a warm mirror on loopback; target <= 0.5x;
* 8 clients pulling the same cold 256 MiB file at once through a fresh mirror whose upstream is
  capped at 50 MB/s per connection: the upstream sends the bytes once, every client gets the same
  bytes, total time <= 1.3x one client's cold pull through a fresh mirror;
* the mirror's peak RSS while serving 8 concurrent 1 GiB downloads (cold: the fill and 8 readers
  of it; then warm, from the store): < 150 MiB.

Every server is a `python -m hubcli.server` subprocess; the upstream's repos are seeded in-process
before it starts. Results: benchmarks/results/mirror.json (rows read by report.py).

    python benchmarks/bench_mirror.py [--small] [--rounds N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import requests  # noqa: E402
from common import (  # noqa: E402
    Server,
    Timing,
    hf_env,
    print_table,
    ratio_row,
    rss_row,
    scratch_dir,
    start_server,
    time_pair,
    write_results,
)

HF = str(Path(sys.executable).parent / "hf")
MiB = 1024 * 1024


def seed(root: Path, repos: dict[str, dict[str, bytes]]) -> None:
    """Write ``repos`` into a hub root (the upstream's), without starting a server."""
    from hubcli.server import HubServer

    hub = HubServer(root)
    for repo_id, files in repos.items():
        hub.seed_repo(repo_id, files)  # type: ignore[arg-type]
    hub.stop()


def start_mirror(upstream: Server, root: Path, *extra: str) -> Server:
    shutil.rmtree(root, ignore_errors=True)
    return start_server(root, extra=["--upstream", upstream.url, "--revision-ttl", "3600", *extra])


def cdn_bytes(upstream: Server) -> int:
    """Bytes of file bodies the upstream sent since the last call."""
    reqs = upstream.requests()
    new = reqs[upstream.log_mark :]
    upstream.log_mark = len(reqs)
    return sum(r.get("bytes", 0) for r in new if r["method"] == "GET" and "/api/" not in r["path"])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pull(url: str, hash_it: bool = True) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    with requests.get(url, stream=True, timeout=300) as r:
        r.raise_for_status()
        for piece in r.iter_content(1 << 20):
            n += len(piece)
            if hash_it:
                h.update(piece)
    return n, h.hexdigest() if hash_it else ""


def pull_many(url: str, clients: int, hash_first_only: bool = False) -> list[tuple[int, str]]:
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futs = [pool.submit(pull, url, not hash_first_only or i == 0) for i in range(clients)]
        return [f.result() for f in futs]


# ---------------------------------------------------------------------- 1. warm vs direct
def bench_warm(work: Path, rounds: int, files: int) -> dict[str, Any]:
    repo = {f"data/f{i:03d}.txt": (f"file {i}\n" * 200).encode() for i in range(files)}
    up_root = work / "up-small"
    seed(up_root, {"bench/many": repo})
    up = start_server(up_root, latency_ms=100)
    mirror = start_mirror(up, work / "mirror-small")
    caches = work / "hf-caches"

    def download(url: str) -> None:
        cache = caches / "c"
        env = hf_env(url, cache)
        subprocess.run(
            [HF, "download", "bench/many", "--cache-dir", str(cache)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )
        got = sum(1 for p in (cache).rglob("*.txt"))
        assert got == files, got

    def fresh() -> None:
        shutil.rmtree(caches, ignore_errors=True)

    try:
        fresh()
        download(mirror.url)  # warms the mirror
        ours, direct = time_pair(
            lambda: download(mirror.url), lambda: download(up.url), runs=rounds, setup=fresh
        )
    finally:
        mirror.stop()
        up.stop()
    return ratio_row(
        f"hf download, {files} files: warm mirror vs direct",
        "upstream +100 ms",
        ours,
        direct,
        other_name="direct",
        target=0.5,
        note="fresh client cache each run; mirror on loopback, warm (revision TTL 1 h)",
    )


# ---------------------------------------------------------------------- 2. 8 clients, one cold file
def bench_single_fill(work: Path, rounds: int, size: int, clients: int) -> dict[str, Any]:
    data = os.urandom(size)
    want = hashlib.sha256(data).hexdigest()
    up_root = work / "up-big"
    seed(up_root, {"bench/big": {"model.safetensors": data}})
    del data
    up = start_server(up_root, bandwidth_mbps=50, log=True)
    mroot = work / "mirror-big"
    url_path = "/bench/big/resolve/main/model.safetensors"
    upstream_bytes: list[int] = []
    identical = True
    one, many = Timing(), Timing()
    try:
        for _ in range(rounds):
            for n, timing in ((1, one), (clients, many)):
                mirror = start_mirror(up, mroot)
                cdn_bytes(up)
                try:
                    t0 = time.perf_counter()
                    got = pull_many(mirror.url + url_path, n)
                    timing.samples.append(time.perf_counter() - t0)
                finally:
                    mirror.stop()
                identical &= all(g == (size, want) for g in got)
                if n == clients:
                    upstream_bytes.append(cdn_bytes(up))
    finally:
        up.stop()
    row = ratio_row(
        f"{clients} clients, one cold {size // MiB} MiB file vs 1 client",
        "upstream 50 MB/s",
        many,
        one,
        other_name="1 client",
        target=1.3,
        note=f"upstream sent {max(upstream_bytes) / size:.2f}x the file; byte-identical: "
        f"{identical}",
        upstream_bytes=upstream_bytes,
        identical=identical,
    )
    row["met"] = row["met"] and identical and max(upstream_bytes) == size
    return row


# ---------------------------------------------------------------------- 3. RSS under 8 x 1 GiB
def bench_rss(work: Path, size: int, clients: int) -> dict[str, Any]:
    data = os.urandom(size)
    want = hashlib.sha256(data).hexdigest()
    up_root = work / "up-huge"
    seed(up_root, {"bench/huge": {"model.safetensors": data}})
    del data
    up = start_server(up_root)
    mirror = start_mirror(up, work / "mirror-huge")
    url = mirror.url + "/bench/huge/resolve/main/model.safetensors"
    try:
        t0 = time.perf_counter()
        cold = pull_many(url, clients, hash_first_only=True)
        cold_s = time.perf_counter() - t0
        cold_peak = peak_rss_mib(mirror.proc.pid)
        t0 = time.perf_counter()
        warm = pull_many(url, clients, hash_first_only=True)
        warm_s = time.perf_counter() - t0
        peak = peak_rss_mib(mirror.proc.pid)
    finally:
        mirror.stop()
        up.stop()
    ok = all(n == size for n, _ in cold + warm) and cold[0][1] == want == warm[0][1]
    row = rss_row(
        f"mirror peak RSS, {clients} x {size // MiB} MiB downloads (cold, then warm)",
        "upstream unthrottled",
        peak,
        None,
        target=150,
        note=f"cold {cold_s:.1f} s (peak {cold_peak:.0f} MiB), warm {warm_s:.1f} s; "
        f"sizes and hash ok: {ok}",
    )
    row["met"] = row["met"] and ok
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="smaller files, for a quick check")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    big, huge, files = (32 * MiB, 64 * MiB, 50) if args.small else (256 * MiB, 1024 * MiB, 200)
    work = scratch_dir("bench-mirror-", 3 * huge)
    rows: list[dict[str, Any]] = []
    try:
        rows.append(bench_warm(work, args.rounds, files))
        rows.append(bench_single_fill(work, max(1, args.rounds - 1), big, 8))
        shutil.rmtree(work / "up-big", ignore_errors=True)
        rows.append(bench_rss(work, huge, 8))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"small": args.small, "rounds": args.rounds, "cpus": os.cpu_count()}
    path = write_results("mirror", rows, meta)
    print_table(rows, ["scenario", "server", "hubcli", "other", "ratio", "target", "met", "note"])
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
