"""Presentation helpers for `hubcli cache`: human sizes and ages, `--filter` expressions, tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcli.cli.output import Output

_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "k": 10**3, "m": 10**6,
    "g": 10**9, "t": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def human_age(ts: float, now: float) -> str:
    if not ts:
        return "-"
    delta = max(0.0, now - ts)
    for unit, secs in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if delta >= secs:
            k = int(delta // secs)
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return "just now"


def _parse_number(value: str, table: dict[str, int], what: str) -> float:
    from hubcli.errors import UsageError

    v = value.strip().lower().replace(" ", "")
    num = v.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = v[len(num) :] or ("b" if table is _UNITS else "s")
    try:
        return float(num) * table[unit]
    except (ValueError, KeyError):
        raise UsageError(
            f"Cannot read {what} {value!r} (examples: 1GB, 500MiB, 30d, 12h)."
        ) from None


def parse_filter(expr: str) -> tuple[str, str, str]:
    import re

    from hubcli.errors import UsageError

    m = re.fullmatch(r"\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*", expr)
    keys = ("size", "accessed", "modified", "type", "name", "id", "refs", "files")
    if not m or m.group(1).lower() not in keys:
        raise UsageError(
            f"Invalid filter {expr!r}: use KEY OP VALUE with KEY in {', '.join(keys)}, "
            "e.g. 'size>1GB', 'accessed>30d', 'type=dataset'."
        )
    return m.group(1).lower(), m.group(2), m.group(3)


def _compare(a: Any, op: str, b: Any) -> bool:
    return bool(
        {
            ">": a > b,
            "<": a < b,
            ">=": a >= b,
            "<=": a <= b,
            "=": a == b,
            "!=": a != b,
        }[op]
    )


def matches(row: dict[str, Any], filters: list[tuple[str, str, str]], now: float) -> bool:
    import fnmatch

    for key, op, value in filters:
        if key == "size":
            ok = _compare(row["size"], op, _parse_number(value, _UNITS, "size"))
        elif key in ("accessed", "modified"):
            ts = row.get("last_" + key) or 0.0
            ok = _compare(now - ts, op, _parse_number(value, _AGES, "age"))
        elif key == "files":
            ok = _compare(row["files"], op, float(value))
        elif key == "type":
            from hubcli.repo import normalize_repo_type

            ok = _compare(row["repo_type"], op, normalize_repo_type(value))
        elif key == "refs":
            has = any(fnmatch.fnmatchcase(r, value) for r in row["refs"])
            ok = has if op == "=" else not has
        else:  # name / id: a glob on the repo id (with or without the type prefix)
            hit = fnmatch.fnmatchcase(row["repo_id"], value) or fnmatch.fnmatchcase(
                f"{row['repo_type']}/{row['repo_id']}", value
            )
            ok = hit if op == "=" else not hit
        if not ok:
            return False
    return True


def table(out: Output, header: list[str], rows: list[list[str]], right: set[int]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]

    def fmt(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out.stdout.write("\n".join([fmt(header), *(fmt(r) for r in rows)]) + "\n")
