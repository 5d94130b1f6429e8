"""Benchmark: upload one large file and 1,000 small files, hubcli vs huggingface_hub upload_folder.

Same local hub (subprocess), same run, medians of several runs. Every run uploads new content to a
new repo, so neither client benefits from objects the server already stores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PY,
    USER,
    hf_env,
    peak_rss_mib,
    print_table,
    run_cmd,
    start_server,
    time_runs,
    write_results,
)

MiB = 1024 * 1024


def make_big(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n


def make_small(folder: Path, count: int) -> None:
    for i in range(count):
        sub = folder / f"d{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:04d}.txt").write_bytes(os.urandom(512) + f"file {i}\n".encode())


def freshen(folder: Path) -> None:
    """Change the first bytes of every file: new content (new oids), same sizes."""
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("r+b") as f:
                f.write(os.urandom(16))


def hf_cmd(repo: str, folder: Path) -> list[str]:
    code = (
        "from huggingface_hub import HfApi\n"
        "api = HfApi()\n"
        f"api.create_repo({repo!r}, exist_ok=True)\n"
        f"api.upload_folder(repo_id={repo!r}, folder_path={str(folder)!r})\n"
    )
    return [PY, "-c", code]


def hubcli_cmd(repo: str, folder: Path) -> list[str]:
    return [PY, "-m", "hubcli", "upload", repo, str(folder), "--quiet"]


def bench_case(
    name: str, folder: Path, env: dict[str, str], runs: int, rss: bool
) -> dict[str, object]:
    counter = {"n": 0}

    def runner(make: Callable[[str, Path], list[str]], tag: str) -> Callable[[], float]:
        def run() -> float:
            counter["n"] += 1
            return run_cmd(make(f"{USER}/{name}-{tag}-{counter['n']}", folder), env)

        return run

    ours = time_runs(runner(hubcli_cmd, "hubcli"), runs=runs, setup=lambda: freshen(folder))
    theirs = time_runs(runner(hf_cmd, "hf"), runs=runs, setup=lambda: freshen(folder))
    row: dict[str, object] = {
        "case": name,
        "hubcli_s": ours.median,
        "hf_s": theirs.median,
        "ratio": ours.median / theirs.median,
        "target": "<= 0.7",
        "ok": ours.median / theirs.median <= 0.7,
    }
    if rss:
        freshen(folder)
        row["hubcli_rss_mib"] = peak_rss_mib(hubcli_cmd(f"{USER}/{name}-rss-a", folder), env)
        freshen(folder)
        row["hf_rss_mib"] = peak_rss_mib(hf_cmd(f"{USER}/{name}-rss-b", folder), env)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="64 MiB instead of 1 GiB, 2 runs")
    parser.add_argument("--runs", type=int, default=0)
    args = parser.parse_args()
    runs = args.runs or (2 if args.small else 3)
    big_size = 64 * MiB if args.small else 1024 * MiB
    work = Path(tempfile.mkdtemp(prefix="hubcli-bench-upload-"))
    server = start_server(work / "root")
    try:
        env = hf_env(server.url)
        env["HF_HOME"] = str(work / "home")
        big = work / "big"
        big.mkdir()
        make_big(big / "weights.bin", big_size)
        small = work / "small"
        make_small(small, 1000)
        big_name = "1GiB-file" if not args.small else "64MiB-file"
        rows = [
            bench_case(big_name, big, env, runs, rss=True),
            bench_case("1000-small-files", small, env, runs, rss=False),
        ]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    cols = ["case", "hubcli_s", "hf_s", "ratio", "target", "ok", "hubcli_rss_mib", "hf_rss_mib"]
    print_table(rows, cols)
    write_results("upload", rows, {"runs": runs, "big_size": big_size, "small": args.small})


if __name__ == "__main__":
    main()
