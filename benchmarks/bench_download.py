"""Benchmark: cold `hubcli download` vs `hf download` (huggingface_hub 2.4, Xet off) and curl, on
two servers: `hubcli serve` (TCP_NODELAY, ASGI) and benchmarks/stdlib_hub.py (stock `http.server`:
headers and body in two writes, Nagle on -- the class of server that meets delayed ACKs).

Rows of issue 15 (each the median of per-round ratios hubcli / other over interleaved rounds, the
order turning each round, every download into a fresh cache on disk, with the min-max spread):

- 200 x 4 KiB and 2,000 x 4 KiB, 20 ms latency per response;
- 64 MiB LFS, 20 MB/s per connection (also the fraction of the physical limit reached: the
  per-connection cap x the connections hubcli used, counted by the server);
- 1 GiB LFS uncapped on loopback vs max(`curl -o` of the same URL, hashlib sha256 of the file),
  >= 7 rounds; hubcli's blob is checked against the sha256 afterwards; hf shown for reference;
- peak RSS of the 1 GiB download (hubcli and hf).

``--small``: 500 files instead of 2,000, 256 MiB instead of 1 GiB, fewer rounds (a few minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PY,
    USER,
    Server,
    Timing,
    hf_env,
    peak_rss_mib,
    peak_streams,
    print_table,
    ratio_row,
    rss_row,
    run_cmd,
    seed_with_hf,
    start_server,
    start_stdlib_hub,
    time_interleaved,
    write_results,
)

MiB = 1024 * 1024
CAP_MBPS = 20.0
HF = shutil.which("hf", path=str(Path(PY).parent)) or "hf"


def hubcli_cmd(repo: str) -> list[str]:
    return [PY, "-m", "hubcli", "download", repo, "-q"]


def hf_cmd(repo: str) -> list[str]:
    return [HF, "download", repo, "--quiet"]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(4 * MiB):
            h.update(block)
    return h.hexdigest()


def make_sources(src: Path, n_big: int, big: int) -> dict[str, Path]:
    """Folders, one per repo: small files (names = repo ids under USER) and the LFS files."""
    folders = {}
    for n in sorted({200, n_big}):
        folders[f"{USER}/small{n}"] = d = src / f"small{n}"
        for i in range(n):
            sub = d / f"d{i % 10}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:05d}.txt").write_bytes(os.urandom(4096))
    for name, size in (("lfs64", 64 * MiB), ("big", big)):
        folders[f"{USER}/{name}"] = d = src / name
        d.mkdir(parents=True)
        with (d / "model.safetensors").open("wb") as f:
            for _ in range(size // (16 * MiB)):
                f.write(os.urandom(16 * MiB))
    return folders


def cold_runs(
    srv: Server,
    repo: str,
    work: Path,
    runs: int,
    extra: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, Timing | list[int]]:
    """Interleaved cold downloads by hubcli, hf (and ``extra``), fresh caches before each; also
    the bodies hubcli's runs streamed in parallel, as the server counted them."""
    caches = {"hubcli": work / "c_hubcli", "hf": work / "c_hf"}
    fns: dict[str, Callable[[], Any]] = {
        "hubcli": lambda: run_cmd(hubcli_cmd(repo), hf_env(srv.url, caches["hubcli"])),
        "hf": lambda: run_cmd(hf_cmd(repo), hf_env(srv.url, caches["hf"])),
        **(extra or {}),
    }
    names = list(fns)
    streams: list[int] = []
    last: list[str] = []

    def tracked(name: str) -> Callable[[], Any]:
        def run() -> Any:
            last[:] = [name]
            return fns[name]()

        return run

    def setup() -> None:
        peak = peak_streams(srv)  # untimed: what the previous run used, and a reset
        if last == ["hubcli"]:
            streams.append(peak)
        for c in caches.values():
            shutil.rmtree(c, ignore_errors=True)

    timings = time_interleaved([tracked(n) for n in names], runs=runs, setup=setup)
    setup()
    return {**dict(zip(names, timings, strict=True)), "streams": streams}


def small_rows(srv: Server, server: str, n_big: int, work: Path, runs: int) -> list[dict]:
    rows = []
    for n, target, r in ((200, 0.4, runs), (n_big, 0.4, max(2, runs - 2))):
        t = cold_runs(srv, f"{USER}/small{n}", work, r)
        rows.append(
            ratio_row(f"{n:,} x 4 KiB, 20 ms latency", server, t["hubcli"], t["hf"], target=target)
        )
        print(rows[-1]["scenario"], server, f"{rows[-1]['ratio']:.2f}", flush=True)
    return rows


def capped_row(srv: Server, server: str, work: Path, runs: int) -> dict[str, Any]:
    t = cold_runs(srv, f"{USER}/lfs64", work, runs)
    conns = max(t["streams"] or [1])
    size_mb = 64 * MiB / 1e6
    achieved = [size_mb / s / (CAP_MBPS * conns) for s in t["hubcli"].samples]
    row = ratio_row(
        f"64 MiB LFS, {CAP_MBPS:g} MB/s per connection",
        server,
        t["hubcli"],
        t["hf"],
        target=0.15,
        note=f"{conns} connections: {sorted(achieved)[len(achieved) // 2]:.0%} of "
        f"{CAP_MBPS:g} MB/s x {conns} (whole process incl. start-up)",
        connections=conns,
        limit_fraction=achieved,
    )
    print(row["scenario"], server, f"{row['ratio']:.2f}", row["note"], flush=True)
    return row


def uncapped_row(
    srv: Server, server: str, big: Path, work: Path, runs: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """1 GiB vs max(curl -o, sha256 of the file) per round; hf in the same rounds."""
    url = f"{srv.url}/{USER}/big/resolve/main/model.safetensors"
    out = work / "curl.out"
    sha_times: list[float] = []

    def curl() -> None:
        out.unlink(missing_ok=True)
        run_cmd(["curl", "-sSfL", "-o", str(out), url], hf_env(srv.url))

    def sha() -> None:
        start = time.perf_counter()
        sha256_file(out)
        sha_times.append(time.perf_counter() - start)

    t = cold_runs(srv, f"{USER}/big", work, runs, extra={"curl": curl})
    # The sha256 pass over the same file, in the same number of rounds (from the page cache, as
    # a client hashing while it receives would see it).
    curl()
    for _ in range(runs):
        sha()
    out.unlink(missing_ok=True)
    limit = [max(c, s) for c, s in zip(t["curl"].samples, sha_times, strict=True)]
    # Verified: the blob hubcli wrote has the sha256 it is named by.
    run_cmd(hubcli_cmd(f"{USER}/big"), hf_env(srv.url, work / "c_check"))
    expected = sha256_file(big)
    blob = work / "c_check" / f"models--{USER}--big" / "blobs" / expected
    ok = blob.is_file() and sha256_file(blob) == expected
    shutil.rmtree(work / "c_check")
    size = big.stat().st_size
    row = ratio_row(
        f"{size // MiB} MiB uncapped on loopback",
        server,
        t["hubcli"],
        limit,
        other_name="max(curl -o, sha256)",
        target=1.15,
        note=f"sha256 {'verified' if ok else 'MISMATCH'}; curl {t['curl'].median:.2f} s, "
        f"sha256 {sorted(sha_times)[len(sha_times) // 2]:.2f} s",
        curl_samples=[round(x, 4) for x in t["curl"].samples],
        sha256_samples=[round(x, 4) for x in sha_times],
        sha256_verified=ok,
    )
    row["met"] = row["met"] and ok
    hf_row = ratio_row(
        f"{size // MiB} MiB uncapped on loopback", server, t["hubcli"], t["hf"], target=1.0,
        note="reference: hubcli / hf",
    )  # fmt: skip
    print(row["scenario"], server, f"{row['ratio']:.2f}", row["note"], flush=True)
    return row, hf_row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="smaller sizes, fewer rounds")
    ap.add_argument("--runs", type=int, default=0, help="rounds of the 1 GiB row (>= 7)")
    args = ap.parse_args()
    big_size = 256 * MiB if args.small else 1024 * MiB
    n_big = 500 if args.small else 2000
    runs = 3 if args.small else 5
    big_runs = args.runs or (3 if args.small else 7)
    # On disk, not tmpfs: where a download lands is part of what a user waits for.
    work = Path(tempfile.mkdtemp(prefix="hubcli-bench-dl-"))
    root = work / "root"
    rows: list[dict[str, Any]] = []
    try:
        src = make_sources(work / "src", n_big, big_size)
        with start_server(root) as srv:  # seed hubcli serve once, with huggingface_hub
            for repo_id, folder in src.items():
                seed_with_hf(srv.url, repo_id, folder)

        def small(repos: list[str]) -> dict[str, Path]:
            return {r: src[r] for r in repos}

        smalls = [f"{USER}/small200", f"{USER}/small{n_big}"]
        servers: list[tuple[str, Callable[..., Server]]] = [
            ("stdlib http.server", lambda repos, **kw: start_stdlib_hub(small(repos), **kw)),
            ("hubcli serve", lambda repos, **kw: start_server(root, log=True, **kw)),
        ]
        for name, start in servers:
            with start(smalls, latency_ms=20) as srv:
                rows += small_rows(srv, name, n_big, work, runs)
            with start([f"{USER}/lfs64"], bandwidth_mbps=CAP_MBPS) as srv:
                rows.append(capped_row(srv, name, work, max(2, runs - 2)))
            with start([f"{USER}/big"]) as srv:
                rows += uncapped_row(srv, name, src[f"{USER}/big"] / "model.safetensors",
                                     work, big_runs)  # fmt: skip
                if name == "hubcli serve":
                    rss = {}
                    for tool, cmd in (("hubcli", hubcli_cmd), ("hf", hf_cmd)):
                        shutil.rmtree(work / "c_rss", ignore_errors=True)
                        env = hf_env(srv.url, work / "c_rss")
                        rss[tool] = peak_rss_mib(cmd(f"{USER}/big"), env)
                    shutil.rmtree(work / "c_rss", ignore_errors=True)
                    rows.append(
                        rss_row(f"peak RSS, {big_size // MiB} MiB download", name, rss["hubcli"],
                                rss["hf"], target=80)
                    )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cols = ["scenario", "server", "hubcli", "other", "other_name", "ratio", "target", "met", "note"]
    print_table(rows, cols)
    meta = {"small": args.small, "big_mib": big_size // MiB, "files": n_big, "runs": runs}
    print(f"\nresults: {write_results('download', rows, meta)}")


if __name__ == "__main__":
    main()
