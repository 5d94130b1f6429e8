"""Benchmark: `hubcli upload` vs huggingface_hub `upload_folder` (HF_HUB_DISABLE_XET=1).

Rows of issue 15: 10,000 x 4 KiB files, 1,000 x 4 KiB files, one 256 MiB file (--small: 2,000 files
and 64 MiB), and the peak RSS of the 10,000-file upload. On `hubcli serve` only: the other local
server (benchmarks/stdlib_hub.py) is read-only.

Same local hub (subprocess), the two clients interleaved, the ratio the median of per-round ratios
with their min-max. Every
run uploads new content to a new repo, so neither client benefits from objects the server already
stores; objects stored by earlier runs are dropped before each run (so the server's memory and
disk state do not drift against whichever client runs later), and the server's root and the
files to upload live on tmpfs when there is room.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PY,
    USER,
    hf_env,
    peak_rss_mib,
    print_table,
    ratio_row,
    rss_row,
    run_cmd,
    scratch_dir,
    start_server,
    time_pair,
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
        (sub / f"f{i:05d}.txt").write_bytes(os.urandom(4096))


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


def drop_stored_objects(root: Path) -> None:
    """Forget the LFS objects earlier runs stored (the repos stay; nothing reads them again)."""
    lfs = root / "objects" / "lfs"
    if lfs.is_dir():
        for sub in lfs.iterdir():
            shutil.rmtree(sub, ignore_errors=True)


def bench_case(
    name: str,
    folder: Path,
    env: dict[str, str],
    runs: int,
    root: Path,
    target: float,
    rss_target: float = 0,
) -> list[dict[str, Any]]:
    counter = {"n": 0}
    slug = "-".join("".join(c if c.isalnum() else " " for c in name).split())

    def runner(make: Callable[[str, Path], list[str]], tag: str) -> Callable[[], float]:
        def run() -> float:
            counter["n"] += 1
            return run_cmd(make(f"{USER}/{slug}-{tag}-{counter['n']}", folder), env)

        return run

    def setup() -> None:
        drop_stored_objects(root)
        freshen(folder)

    ours, theirs = time_pair(
        runner(hubcli_cmd, "hubcli"), runner(hf_cmd, "hf"), runs=runs, setup=setup
    )
    rows = [ratio_row(name, "hubcli serve", ours, theirs, target=target)]
    print(name, f"{rows[-1]['ratio']:.2f}", flush=True)
    if rss_target:
        setup()
        rss_ours = peak_rss_mib(hubcli_cmd(f"{USER}/{slug}-rss-a", folder), env)
        setup()
        rss_hf = peak_rss_mib(hf_cmd(f"{USER}/{slug}-rss-b", folder), env)
        rows.append(
            rss_row(f"peak RSS, {name}", "hubcli serve", rss_ours, rss_hf, target=rss_target)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="2,000 files and 64 MiB, 2 rounds")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument(
        "--capped-mbps",
        type=float,
        default=0.0,
        help="also upload the big file to a hub that takes N MB/s per connection, like an "
        "object store over a real network (0 = skip)",
    )
    args = parser.parse_args()
    runs = args.runs or (2 if args.small else 3)
    big_size = 64 * MiB if args.small else 256 * MiB
    many = 2000 if args.small else 10_000
    work = scratch_dir("hubcli-bench-upload-", 2 * big_size)
    server = start_server(work / "root")
    rows: list[dict[str, Any]] = []
    try:
        env = hf_env(server.url)
        env["HF_HOME"] = str(work / "home")
        big = work / "big"
        big.mkdir()
        make_big(big / "weights.bin", big_size)
        folders = {n: work / f"small{n}" for n in (many, 1000)}
        for n, folder in folders.items():
            make_small(folder, n)
        root = work / "root"
        rows += bench_case(
            f"upload {many:,} x 4 KiB", folders[many], env, runs, root, 0.6, rss_target=100
        )
        rows += bench_case("upload 1,000 x 4 KiB", folders[1000], env, runs, root, 0.6)
        rows += bench_case(f"upload one {big_size // MiB} MiB file", big, env, runs, root, 0.8)
        if args.capped_mbps > 0:
            capped_root = work / "root-capped"
            extra = ["--upload-bandwidth", str(args.capped_mbps)]
            with start_server(capped_root, extra=extra) as capped:
                rows += bench_case(
                    f"upload one {big_size // MiB} MiB file, {args.capped_mbps:g} MB/s per "
                    "connection",
                    big,
                    dict(env, HF_ENDPOINT=capped.url),
                    runs,
                    capped_root,
                    0.8,
                )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    cols = ["scenario", "hubcli", "other", "ratio", "spread", "target", "met"]
    print_table(rows, cols)
    meta = {"runs": runs, "big_size": big_size, "files": many, "small": args.small}
    print(f"results: {write_results('upload', rows, meta)}")


if __name__ == "__main__":
    main()
