"""Benchmark: `hubcli download` vs huggingface_hub (`hf download` and `snapshot_download`) and curl.

Ratios are hubcli time / `hf download` time (CLI vs CLI, both paying interpreter start-up);
`ratio_vs_lib` is hubcli (a CLI process) / a bare `python -c snapshot_download(...)` process.

Scenarios (issue 4): 300 files of 4 KiB with 20 ms latency; one big LFS file capped at 50 MB/s per
connection; the same file uncapped vs curl; a re-run on a fully cached repo (requests and time, by
branch and by commit); peak RSS while downloading the big file. ``--small`` shrinks the big file
(96 MiB) and the number of runs so the whole thing finishes in well under a minute.

The cold downloads of the three tools run interleaved (the order turning each round), each from a
fresh cache on disk (where a download lands is part of what a user waits for), so drift in page
cache and writeback falls on all alike.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PY,
    USER,
    hf_env,
    peak_rss_mib,
    print_table,
    run_cmd,
    seed_with_hf,
    start_server,
    time_interleaved,
    time_runs,
    write_results,
)

MiB = 1024 * 1024


def hubcli_cmd(repo: str, *extra: str) -> list[str]:
    return [PY, "-m", "hubcli", "download", repo, "-q", *extra]


def hf_cmd(repo: str, revision: str = "main") -> list[str]:
    hf = shutil.which("hf", path=str(Path(PY).parent)) or "hf"
    return [hf, "download", repo, "--revision", revision, "--quiet"]


def lib_cmd(repo: str, revision: str = "main") -> list[str]:
    code = (
        "from huggingface_hub import snapshot_download\n"
        f"snapshot_download({repo!r}, revision={revision!r})\n"
    )
    return [PY, "-c", code]


def compare(name: str, url: str, repo: str, work: Path, runs: int, **extra: Any) -> dict[str, Any]:
    """Median wall time of a cold download by each tool (fresh cache before every run)."""
    caches = {"hubcli": work / "c_hubcli", "hf": work / "c_hf", "lib": work / "c_lib"}

    def fresh() -> None:
        for c in caches.values():
            shutil.rmtree(c, ignore_errors=True)

    t_ours, t_hf, t_lib = time_interleaved(
        [
            lambda: run_cmd(hubcli_cmd(repo), hf_env(url, caches["hubcli"])),
            lambda: run_cmd(hf_cmd(repo), hf_env(url, caches["hf"])),
            lambda: run_cmd(lib_cmd(repo), hf_env(url, caches["lib"])),
        ],
        runs=runs,
        setup=fresh,
    )
    row = {
        "scenario": name,
        "hubcli_s": t_ours.median,
        "hf_s": t_hf.median,
        "ratio": t_ours.median / t_hf.median,
        "lib_s": t_lib.median,
        "ratio_vs_lib": t_ours.median / t_lib.median,
        **extra,
    }
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="small sizes, fewer runs (< 1 min)")
    args = ap.parse_args()
    big_size = 96 * MiB if args.small else 1024 * MiB
    runs = 2 if args.small else 5
    # On disk, not tmpfs: where a download lands is part of what a user waits for.
    work = Path(tempfile.mkdtemp(prefix="hubcli-bench-dl-"))
    root = work / "root"
    rows: list[dict[str, Any]] = []
    try:
        # Seed once (uncapped server), then restart the hub on the same root with each knob.
        src = work / "src"
        (src / "small").mkdir(parents=True)
        for i in range(300):
            (src / "small" / f"f{i:03d}.txt").write_bytes(os.urandom(4096))
        (src / "big").mkdir()
        with (src / "big" / "model.safetensors").open("wb") as f:
            for _ in range(big_size // (16 * MiB)):
                f.write(os.urandom(16 * MiB))
        with start_server(root) as srv:
            seed_with_hf(srv.url, f"{USER}/small", src / "small")
            seed_with_hf(srv.url, f"{USER}/big", src / "big")
        shutil.rmtree(src)

        with start_server(root, latency_ms=20) as srv:
            rows.append(
                compare("300 x 4 KiB, 20 ms latency", srv.url, f"{USER}/small", work, runs,
                        target="<= 0.5")
            )  # fmt: skip
        with start_server(root, bandwidth_mbps=50) as srv:
            rows.append(
                compare(f"{big_size // MiB} MiB LFS, 50 MB/s per connection", srv.url,
                        f"{USER}/big", work, max(1, runs - 1), target="<= 0.25")
            )  # fmt: skip
        with start_server(root, log=True) as srv:
            row = compare(
                f"{big_size // MiB} MiB LFS, uncapped", srv.url, f"{USER}/big", work, runs
            )
            # curl on the same resolve URL (follows the 302 to the CDN), saved to a file on the
            # same disk as the caches: both tools pay for the write, neither for a hash check.
            curl = shutil.which("curl")
            if curl:
                url = f"{srv.url}/{USER}/big/resolve/main/model.safetensors"
                out = work / "curl.out"
                t_curl = time_runs(
                    lambda: run_cmd([curl, "-sSfL", "-o", str(out), url], hf_env(srv.url)),
                    runs=runs,
                    setup=lambda: out.unlink(missing_ok=True),
                )
                out.unlink(missing_ok=True)
                row["curl_s"] = t_curl.median
                row["throughput_vs_curl"] = t_curl.median / row["hubcli_s"]
                row["target"] = ">= 0.9 of curl"
            rows.append(row)

            # Cached re-runs: requests and time, by branch and by commit.
            cache = work / "c_hubcli"
            hfc = work / "c_hf"
            run_cmd(hubcli_cmd(f"{USER}/small"), hf_env(srv.url, cache))
            run_cmd(hf_cmd(f"{USER}/small"), hf_env(srv.url, hfc))
            commit = (cache / f"models--{USER}--small" / "refs" / "main").read_text()
            for label, rev in (("branch", "main"), ("commit", commit)):
                before = len(srv.requests())
                t_ours = time_runs(
                    lambda rev=rev: run_cmd(
                        hubcli_cmd(f"{USER}/small", "--revision", rev), hf_env(srv.url, cache)
                    ),
                    runs=runs,
                )
                n_ours = (len(srv.requests()) - before) / runs
                before = len(srv.requests())
                t_hf = time_runs(
                    lambda rev=rev: run_cmd(hf_cmd(f"{USER}/small", rev), hf_env(srv.url, hfc)),
                    runs=runs,
                )
                n_hf = (len(srv.requests()) - before) / runs
                t_lib = time_runs(
                    lambda rev=rev: run_cmd(lib_cmd(f"{USER}/small", rev), hf_env(srv.url, hfc)),
                    runs=runs,
                )
                rows.append(
                    {
                        "scenario": f"cached re-run by {label}",
                        "hubcli_s": t_ours.median,
                        "hf_s": t_hf.median,
                        "ratio": t_ours.median / t_hf.median,
                        "lib_s": t_lib.median,
                        "ratio_vs_lib": t_ours.median / t_lib.median,
                        "hubcli_requests": n_ours,
                        "hf_requests": n_hf,
                        "target": f"<= 0.5, {1 if label == 'branch' else 0} request",
                    }
                )

            shutil.rmtree(work / "c_rss", ignore_errors=True)
            rss = peak_rss_mib(hubcli_cmd(f"{USER}/big"), hf_env(srv.url, work / "c_rss"))
            rows.append(
                {"scenario": f"peak RSS, {big_size // MiB} MiB download", "hubcli_rss_mib": rss,
                 "target": "<= 120 MiB"}
            )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cols = [
        "scenario", "hubcli_s", "hf_s", "ratio", "lib_s", "ratio_vs_lib", "curl_s",
        "throughput_vs_curl", "hubcli_requests", "hf_requests", "hubcli_rss_mib", "target",
    ]  # fmt: skip
    print_table(rows, cols)
    path = write_results("download", rows, {"small": args.small, "big_mib": big_size // MiB})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
