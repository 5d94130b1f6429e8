"""Print the issue-15 table from benchmarks/results/*.json as one markdown table.

Reads the rows that bench_download.py, bench_cache.py, bench_upload.py and bench_mirror.py wrote
(rows with a ``unit``: a hubcli / other ratio with its spread over interleaved rounds, or a peak
RSS) and prints
scenario, server, hubcli, other, ratio, spread, target and whether it is met.

    python benchmarks/report.py [--results DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
AREAS = ("download", "cache", "upload", "mirror", "storage", "replica")


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} MiB" if unit == "MiB" else f"{value:.2f} s"


def cells(row: dict[str, Any]) -> list[str]:
    unit = row.get("unit", "s")
    ratio = row.get("ratio")
    spread = row.get("spread")
    other = fmt_value(row.get("other"), unit)
    if row.get("other_name") not in (None, "hf"):
        other = f"{other} ({row['other_name']})"
    met = row.get("met")
    return [
        row["scenario"],
        row.get("server", ""),
        fmt_value(row.get("hubcli"), unit),
        other,
        "-" if ratio is None else f"{ratio:.2f}x",
        f"{spread[0]:.2f}-{spread[1]:.2f} (n={row.get('runs', '?')})" if spread else "-",
        row.get("target", ""),
        "yes" if met else "**no**" if met is not None else "",
        row.get("note", ""),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    header = ["scenario", "server", "hubcli", "other", "ratio", "spread", "target", "met?", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    sources = []
    for area in AREAS:
        path = args.results / f"{area}.json"
        if not path.exists():
            sources.append(f"{area}: not run")
            continue
        data = json.loads(path.read_text())
        when = datetime.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        size = "--small" if data.get("meta", {}).get("small") else "full size"
        sources.append(f"{area}: {size}, {when}")
        for row in data["rows"]:
            if "unit" in row:
                lines.append("| " + " | ".join(str(c) for c in cells(row)) + " |")
    print("\n".join(lines))
    print(f"\n{os.cpu_count()} CPUs; " + "; ".join(sources))


if __name__ == "__main__":
    main()
