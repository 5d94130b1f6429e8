"""Benchmark: `hubcli --help` cold-start time vs `hf --help` (huggingface_hub's CLI), same run."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, run_cmd, time_runs, write_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true", help="fewer runs")
    parser.add_argument("--runs", type=int, default=0)
    args = parser.parse_args()
    runs = args.runs or (5 if args.small else 15)
    bindir = Path(sys.executable).parent
    hubcli = shutil.which("hubcli", path=str(bindir)) or "hubcli"
    hf = shutil.which("hf", path=str(bindir)) or "hf"
    env = dict(os.environ, HF_HUB_DISABLE_UPDATE_CHECK="1", HF_HUB_DISABLE_TELEMETRY="1")
    # warm the OS file cache and .pyc files first
    run_cmd([hubcli, "--help"], env)
    run_cmd([hf, "--help"], env)
    ours = time_runs(lambda: run_cmd([hubcli, "--help"], env), runs=runs)
    theirs = time_runs(lambda: run_cmd([hf, "--help"], env), runs=runs)
    ratio = ours.median / theirs.median
    rows = [
        {
            "case": "--help",
            "hubcli_s": ours.median,
            "hf_s": theirs.median,
            "ratio": ratio,
            "target": "<= 0.35",
            "ok": ratio <= 0.35,
        }
    ]
    print_table(rows, ["case", "hubcli_s", "hf_s", "ratio", "target", "ok"])
    write_results("cli", rows, {"runs": runs})


if __name__ == "__main__":
    main()
