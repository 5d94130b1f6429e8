"""Benchmark: how long `hubcli download` takes to give up on each hostile server, default settings.

The hostile modes are the ones of tests/e2e/test_liveness.py (there with scaled-down windows); here
every liveness setting keeps its default (stall: < 1 KiB/s over 30 s, 3 attempts without progress,
60 s per metadata call, at most 60 s of Retry-After). Each mode must end with exit 5 within
2 minutes. `--only MODE` runs one mode (names: see MODES).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from common import print_table, write_results  # noqa: E402

from tests.e2e import test_liveness as hostile  # noqa: E402

BOUND_S = 120.0
MODES = {
    "range-ignored-drop": {"resolve": hostile.range_ignored_drop},
    "body-1-byte-per-s": {"resolve": hostile.trickle_body(1.0)},
    "json-1-byte-per-s": {"listing": hostile.trickle_json(1.0)},
    "headers-1-byte-per-s": {"listing": hostile.trickle_headers(1.0)},
    "halving-then-stall": {"resolve": hostile.halving},
    "retry-after-86400": {"listing": hostile.too_many({"Retry-After": "86400"})},
    "ratelimit-t-87": {"listing": hostile.too_many({"RateLimit": '"resolvers";r=0;t=87'})},
}


def run_mode(name: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-liveness-") as tmp:
        srv = hostile.HostileServer(MODES[name]).__enter__()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUBCLI_"))}
            env.update({"HF_ENDPOINT": srv.url, "HF_HOME": tmp, "NO_PROXY": "127.0.0.1"})
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "hubcli", "download", hostile.REPO],
                env=env,
                capture_output=True,
                text=True,
                timeout=BOUND_S * 3,
                cwd=tmp,
            )
            took = time.monotonic() - t0
            requests = len(srv.log)
        finally:
            srv.__exit__()
    return {
        "mode": name,
        "seconds": took,
        "exit": proc.returncode,
        "requests": requests,
        "ok": proc.returncode == 5 and took < BOUND_S,
        "error": proc.stderr.strip().splitlines()[0][:110] if proc.stderr.strip() else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(MODES), action="append")
    args = parser.parse_args()
    rows = [run_mode(name) for name in (args.only or MODES)]
    print_table(rows, ["mode", "seconds", "exit", "requests", "ok", "error"])
    write_results("liveness", rows, {"bound_s": BOUND_S, "settings": "defaults"})
    if not all(row["ok"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
