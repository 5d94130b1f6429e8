"""Benchmark `hubcli cache ls` against `hf cache ls` on a synthetic cache.

The cache has the real layout (blobs named by git sha1, relative snapshot symlinks, refs/main,
half the files in a sub-folder), N repos x 20 tiny files (1,000 repos by default, 100 with
--small). Both tools run as subprocesses on the same warm cache; medians of several runs.

    python benchmarks/bench_cache.py [--small] [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, print_table, run_cmd, time_runs, write_results

FILES_PER_REPO = 20


def build_cache(root: Path, repos: int) -> None:
    for r in range(repos):
        kind = "datasets" if r % 10 == 0 else "models"
        repo = root / f"{kind}--org{r % 37}--repo{r}"
        commit = hashlib.sha1(f"commit-{r}".encode()).hexdigest()
        snap = repo / "snapshots" / commit
        (snap / "sub").mkdir(parents=True)
        (repo / "blobs").mkdir()
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commit)
        for i in range(FILES_PER_REPO):
            data = f"repo {r} file {i}\n".encode()
            etag = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            (repo / "blobs" / etag).write_bytes(data)
            link = snap / (f"sub/f{i}.txt" if i % 2 else f"f{i}.json")
            os.symlink(os.path.relpath(repo / "blobs" / etag, link.parent), link)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="100 repos instead of 1,000")
    parser.add_argument("--runs", type=int, default=0, help="timed runs per tool")
    args = parser.parse_args()
    repos = 100 if args.small else 1000
    runs = args.runs or (3 if args.small else 5)
    hf = shutil.which("hf") or str(Path(PY).parent / "hf")
    work = Path(tempfile.mkdtemp(prefix="hubcli-bench-cache-"))
    try:
        cache = work / "hub"
        build_cache(cache, repos)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(
            HF_HOME=str(work / "home"),
            HF_HUB_CACHE=str(cache),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_UPDATE_CHECK="1",
            COLUMNS="200",
        )
        commands = {
            "hubcli cache ls": [PY, "-m", "hubcli", "cache", "ls", "--cache-dir", str(cache)],
            "hf cache ls": [hf, "cache", "ls", "--cache-dir", str(cache)],
        }
        timings = {}
        for name, cmd in commands.items():
            run_cmd(cmd, env)  # warm-up: page cache, .pyc
            timings[name] = time_runs(lambda cmd=cmd: run_cmd(cmd, env), runs=runs)
        ours = timings["hubcli cache ls"].median
        theirs = timings["hf cache ls"].median
        rows = [
            {"tool": name, "median_s": t.median, "samples": [round(s, 4) for s in t.samples]}
            for name, t in timings.items()
        ]
        print(f"\n`cache ls` on {repos} repos x {FILES_PER_REPO} files ({runs} runs, medians)\n")
        print_table(
            [{"tool": r["tool"], "median (s)": r["median_s"]} for r in rows],
            ["tool", "median (s)"],
        )
        ratio = ours / theirs
        print(f"\nratio hubcli / hf = {ratio:.3f} (target <= 0.30)")
        path = write_results(
            "cache",
            rows,
            {
                "repos": repos,
                "files_per_repo": FILES_PER_REPO,
                "runs": runs,
                "ratio": ratio,
                "small": args.small,
            },
        )
        print(f"results: {path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
