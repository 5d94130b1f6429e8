"""Benchmark `hubcli cache verify` / `cache ls` against `hf cache verify` / `hf cache ls`.

verify (issue 15): one repo of 10,000 x 4 KiB files (2,000 with --small), cached by a download from
each of the two local servers (benchmarks/stdlib_hub.py and `hubcli serve`); `hubcli cache verify
REPO` checks offline (blobs re-hashed against their names, every snapshot link), `hf cache verify
REPO` also lists the remote tree from the server. Interleaved rounds on the warm cache; the ratio is
the median of per-round ratios, with their min-max.

ls: a synthetic cache with the real layout (blobs named by git sha1, relative snapshot symlinks,
refs/main, half the files in a sub-folder), N repos x 20 tiny files (1,000 repos, 100 with --small).

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

from common import (
    PY,
    USER,
    Server,
    hf_env,
    print_table,
    ratio_row,
    run_cmd,
    seed_with_hf,
    start_server,
    start_stdlib_hub,
    time_commands,
    write_results,
)

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


def verify_rows(files: int, runs: int, work: Path, hf: str) -> list[dict[str, object]]:
    src = work / "verify-src"
    for i in range(files):
        sub = src / f"d{i % 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_bytes(os.urandom(4096))
    repo = f"{USER}/verify{files}"
    root = work / "verify-root"
    with start_server(root) as srv:
        seed_with_hf(srv.url, repo, src)
    rows: list[dict[str, object]] = []
    for k, name in enumerate(("stdlib http.server", "hubcli serve")):
        srv: Server = start_stdlib_hub({repo: src}) if k == 0 else start_server(root)
        with srv:
            cache = work / f"verify-cache-{k}"
            try:
                run_cmd([PY, "-m", "hubcli", "download", repo, "-q"], hf_env(srv.url, cache))
            except RuntimeError as exc:  # the cache is the same either way
                print(f"hubcli download failed ({exc}); caching with hf", file=sys.stderr)
                run_cmd([hf, "download", repo, "--quiet"], hf_env(srv.url, cache))
            env = hf_env(srv.url, cache)
            ours = [PY, "-m", "hubcli", "cache", "verify", repo, "--cache-dir", str(cache)]
            theirs = [hf, "cache", "verify", repo, "--cache-dir", str(cache)]
            run_cmd(ours, env)  # warm-up: page cache
            run_cmd(theirs, env)
            t_ours, t_hf = time_commands([ours, theirs], env, runs=runs)
            rows.append(
                ratio_row(
                    f"`cache verify`, one repo of {files:,} files",
                    name,
                    t_ours,
                    t_hf,
                    target=0.6,
                    note="hubcli checks offline from blob names; hf also lists the remote tree",
                )
            )
            print(rows[-1]["scenario"], name, f"{rows[-1]['ratio']:.2f}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="2,000 files, 100 repos")
    parser.add_argument("--runs", type=int, default=0, help="timed rounds per row")
    args = parser.parse_args()
    repos = 100 if args.small else 1000
    files = 2000 if args.small else 10_000
    runs = args.runs or (3 if args.small else 5)
    hf = shutil.which("hf", path=str(Path(PY).parent)) or "hf"
    work = Path(tempfile.mkdtemp(prefix="hubcli-bench-cache-"))
    try:
        rows = verify_rows(files, runs, work, hf)
        cache = work / "hub"
        build_cache(cache, repos)
        env = hf_env("http://127.0.0.1:9", cache, HF_HUB_OFFLINE="1", COLUMNS="200")
        ours = [PY, "-m", "hubcli", "cache", "ls", "--cache-dir", str(cache)]
        theirs = [hf, "cache", "ls", "--cache-dir", str(cache)]
        run_cmd(ours, env)  # warm-up: page cache, .pyc
        run_cmd(theirs, env)
        t_ours, t_hf = time_commands([ours, theirs], env, runs=runs)
        rows.append(
            ratio_row(
                f"`cache ls`, {repos:,} repos x {FILES_PER_REPO} files",
                "(offline)",
                t_ours,
                t_hf,
                target=0.3,
                note="issue 4 row",
            )
        )
        cols = ["scenario", "server", "hubcli", "other", "ratio", "spread", "target", "met"]
        print_table(rows, cols)
        meta = {"repos": repos, "files": files, "runs": runs, "small": args.small}
        print(f"results: {write_results('cache', rows, meta)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
