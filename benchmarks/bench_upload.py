"""Benchmark: upload one large file and 1,000 small files, hubcli vs huggingface_hub upload_folder.

Same local hub (subprocess), same run, medians of several runs, the two clients interleaved. Every
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PY,
    USER,
    hf_env,
    peak_rss_mib,
    print_table,
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
    rss: bool,
    root: Path,
    target: str = "<= 0.7",
) -> dict[str, object]:
    counter = {"n": 0}

    def runner(make: Callable[[str, Path], list[str]], tag: str) -> Callable[[], float]:
        def run() -> float:
            counter["n"] += 1
            slug = "-".join("".join(c if c.isalnum() else " " for c in name).split())
            return run_cmd(make(f"{USER}/{slug}-{tag}-{counter['n']}", folder), env)

        return run

    def setup() -> None:
        drop_stored_objects(root)
        freshen(folder)

    ours, theirs = time_pair(
        runner(hubcli_cmd, "hubcli"), runner(hf_cmd, "hf"), runs=runs, setup=setup
    )
    row: dict[str, object] = {
        "case": name,
        "hubcli_s": ours.median,
        "hf_s": theirs.median,
        "ratio": ours.median / theirs.median,
        "target": target,
        "ok": ours.median / theirs.median <= 0.7 if target else None,
    }
    if rss:
        setup()
        row["hubcli_rss_mib"] = peak_rss_mib(hubcli_cmd(f"{USER}/{name}-rss-a", folder), env)
        setup()
        row["hf_rss_mib"] = peak_rss_mib(hf_cmd(f"{USER}/{name}-rss-b", folder), env)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="64 MiB instead of 1 GiB, 2 runs")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument(
        "--capped-mbps",
        type=float,
        default=100.0,
        help="also upload the big file to a hub that takes N MB/s per connection, like an "
        "object store over a real network (0 = skip)",
    )
    args = parser.parse_args()
    runs = args.runs or (2 if args.small else 3)
    big_size = 64 * MiB if args.small else 1024 * MiB
    work = scratch_dir("hubcli-bench-upload-", 2 * big_size)
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
            bench_case(big_name, big, env, runs, rss=True, root=work / "root"),
            bench_case("1000-small-files", small, env, runs, rss=False, root=work / "root"),
        ]
        if args.capped_mbps > 0:
            capped_root = work / "root-capped"
            extra = ["--upload-bandwidth", str(args.capped_mbps)]
            with start_server(capped_root, extra=extra) as capped:
                rows.append(
                    bench_case(
                        f"{big_name}, {args.capped_mbps:g} MB/s per connection",
                        big,
                        dict(env, HF_ENDPOINT=capped.url),
                        runs,
                        rss=False,
                        root=capped_root,
                        target="",
                    )
                )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    cols = ["case", "hubcli_s", "hf_s", "ratio", "target", "ok", "hubcli_rss_mib", "hf_rss_mib"]
    print_table(rows, cols)
    meta = {"runs": runs, "big_size": big_size, "small": args.small, "scratch": str(work.parent)}
    write_results("upload", rows, meta)


if __name__ == "__main__":
    main()
