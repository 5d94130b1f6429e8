"""Benchmark: `hubcli sync` of a lock with 3 repos / 500 files (issue 14).

Scenarios:

* warm: `hubcli sync --frozen` with everything cached and stamped, vs `hf download` of the same
  three repos (one process each, as a CI script runs them) with everything cached, and vs one
  Python process calling `snapshot_download` three times. Requests come from the server log:
  sync makes none, hf at least one per repo. Target: sync <= 0.3x of `hf download`.
* cold: `hubcli sync --frozen` into an empty cache (repos fetched in parallel) vs `hubcli
  download` of each repo one after another, 20 ms of latency per request. Target: not slower.

Everything runs on loopback against `python -m hubcli.server`; ``--small`` shrinks the LFS files
and the number of runs so it finishes in well under a minute.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    PY,
    USER,
    hf_env,
    print_table,
    run_cmd,
    scratch_dir,
    seed_with_hf,
    start_server,
    time_interleaved,
    time_runs,
    write_results,
)

MiB = 1024 * 1024
REPOS = {"r1": 200, "r2": 200, "r3": 94}  # + one LFS file and .gitattributes each = 500


def hf_download(repo: str) -> list[str]:
    hf = shutil.which("hf", path=str(Path(PY).parent)) or "hf"
    return [hf, "download", f"{USER}/{repo}", "--quiet"]


def lib_snapshots() -> list[str]:
    code = "from huggingface_hub import snapshot_download\n" + "".join(
        f"snapshot_download({USER + '/' + r!r})\n" for r in REPOS
    )
    return [PY, "-c", code]


def sync_cmd(project: Path, *extra: str) -> list[str]:
    return [PY, "-m", "hubcli", "sync", "--frozen", "--project", str(project), "-q", *extra]


def run_all(cmds: list[list[str]], env: dict[str, str]) -> None:
    for cmd in cmds:
        run_cmd(cmd, env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", action="store_true", help="small sizes, fewer runs (< 1 min)")
    args = ap.parse_args()
    lfs_size = 2 * MiB if args.small else 64 * MiB
    runs = 3 if args.small else 7
    work = scratch_dir("hubcli-bench-sync-", 8 * lfs_size * len(REPOS))
    root = work / "root"
    rows: list[dict[str, Any]] = []
    try:
        src = work / "src"
        for repo, n in REPOS.items():
            folder = src / repo
            (folder / "data").mkdir(parents=True)
            for i in range(n):
                (folder / "data" / f"f{i:03d}.txt").write_bytes(os.urandom(4096))
            (folder / "model.safetensors").write_bytes(os.urandom(lfs_size))
        with start_server(root) as srv:
            for repo in REPOS:
                seed_with_hf(srv.url, f"{USER}/{repo}", src / repo)
        shutil.rmtree(src)
        project = work / "project"
        project.mkdir()
        (project / "hubcli.toml").write_text(
            "".join(f'[[repo]]\nid = "{USER}/{r}"\n\n' for r in REPOS)
        )

        with start_server(root, log=True) as srv:
            run_cmd(
                [PY, "-m", "hubcli", "lock", "--project", str(project), "-q"],
                hf_env(srv.url, work / "c_lock"),
            )
            files = (project / "hubcli.lock").read_text().count("[[repo.file]]")
            ours, theirs = work / "c_sync", work / "c_hf"
            env_ours, env_hf = hf_env(srv.url, ours), hf_env(srv.url, theirs)
            run_cmd(sync_cmd(project), env_ours)  # cold, then stamped
            run_cmd(sync_cmd(project), env_ours)
            run_all([hf_download(r) for r in REPOS], env_hf)

            before = len(srv.requests())
            t_sync = time_runs(lambda: run_cmd(sync_cmd(project), env_ours), runs=runs)
            n_sync = (len(srv.requests()) - before) / runs
            before = len(srv.requests())
            t_hf = time_runs(lambda: run_all([hf_download(r) for r in REPOS], env_hf), runs=runs)
            n_hf = (len(srv.requests()) - before) / runs
            t_lib = time_runs(lambda: run_cmd(lib_snapshots(), env_hf), runs=runs)
            t_verify = time_runs(lambda: run_cmd(sync_cmd(project, "--verify"), env_ours), runs=1)
            rows.append(
                {
                    "scenario": f"warm sync --frozen, {len(REPOS)} repos / {files} files",
                    "hubcli_s": t_sync.median,
                    "other_s": t_hf.median,
                    "ratio": t_sync.median / t_hf.median,
                    "lib_s": t_lib.median,
                    "ratio_vs_lib": t_sync.median / t_lib.median,
                    "hubcli_requests": n_sync,
                    "other_requests": n_hf,
                    "target": "<= 0.3 of hf download, 0 requests",
                }
            )
            rows.append(
                {
                    "scenario": "warm sync --frozen --verify (re-hash all)",
                    "hubcli_s": t_verify.median,
                    "hubcli_requests": 0,
                }
            )

        with start_server(root, latency_ms=20) as srv:
            cold_sync, cold_dl = work / "cold_sync", work / "cold_dl"

            def fresh() -> None:
                for c in (cold_sync, cold_dl, cold_sync.parent / "hf_home"):
                    shutil.rmtree(c, ignore_errors=True)

            dl = [[PY, "-m", "hubcli", "download", f"{USER}/{r}", "-q"] for r in REPOS]
            t_cold, t_seq = time_interleaved(
                [
                    lambda: run_cmd(sync_cmd(project), hf_env(srv.url, cold_sync)),
                    lambda: run_all(dl, hf_env(srv.url, cold_dl)),
                ],
                runs=max(2, runs - 1),
                setup=fresh,
            )
            rows.append(
                {
                    "scenario": f"cold sync --frozen vs 3 x hubcli download, 20 ms latency, "
                    f"{lfs_size // MiB} MiB LFS per repo",
                    "hubcli_s": t_cold.median,
                    "other_s": t_seq.median,
                    "ratio": t_cold.median / t_seq.median,
                    "target": "<= 1.0",
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    cols = [
        "scenario", "hubcli_s", "other_s", "ratio", "lib_s", "ratio_vs_lib",
        "hubcli_requests", "other_requests", "target",
    ]  # fmt: skip
    print_table(rows, cols)
    path = write_results("sync", rows, {"small": args.small, "lfs_mib": lfs_size // MiB})
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
