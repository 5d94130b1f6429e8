"""Presentation for `hubcli cache`: ages, aligned tables and the `cache ls` listing.

The model (rows, filters, sort, totals) is :mod:`hubcli.cache.listing`; sizes are
:func:`hubcli.units.human_size`. Nothing here decides what is shown, only how.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcli.units import human_size

if TYPE_CHECKING:
    from hubcli.cache.listing import CacheListing
    from hubcli.cli.output import Output


def plural(n: int, noun: str) -> str:
    """``1 file``, ``2 files``, ``0 repos`` (``noun`` is the singular)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def human_age(ts: float, now: float) -> str:
    """``3 days ago``, ``1 hour ago``, ``just now``; ``-`` for never."""
    if not ts:
        return "-"
    delta = max(0.0, now - ts)
    for unit, secs in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if delta >= secs:
            k = int(delta // secs)
            return f"{k} {unit}{'s' if k > 1 else ''} ago"
    return "just now"


def table(out: Output, header: list[str], rows: list[list[str]], right: set[int]) -> None:
    """Plain aligned columns (``right`` holds the right-justified column indexes)."""
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


def render_listing(out: Output, listing: CacheListing, now: float, *, quiet: bool) -> None:
    """`cache ls` for humans: a table and a total line (``--quiet``: one id per line)."""
    per_rev = listing.per_revision
    if quiet:
        for r in listing.rows:
            out.line(r.id)
        return
    grid: list[list[str]] = []
    tiered = any(r.tiers for r in listing.rows)  # the TIER column only where tiers are used
    for r in listing.rows:
        cells = [r.display_id]
        if per_rev:
            cells.append((r.revision or "")[:12])
        cells += [human_size(r.size), str(r.files)]
        if not per_rev:
            cells.append(str(r.revisions))
        cells += [
            ",".join(r.refs) or "-",
            human_age(r.last_accessed, now),
            human_age(r.last_modified, now),
        ]
        if tiered:
            cells.append(
                ", ".join(f"{t} ({human_size(n)})" for t, n in r.tiers) if r.tiers else "-"
            )
        grid.append(cells)
    header = ["ID", *(["REVISION"] if per_rev else []), "SIZE", "FILES"]
    header += [*([] if per_rev else ["REVS"]), "REFS", "ACCESSED", "MODIFIED"]
    header += ["TIER"] if tiered else []
    size_col = 2 if per_rev else 1
    table(out, header, grid, {size_col, size_col + 1, size_col + 2})
    what = plural(len(listing.rows), "revision" if per_rev else "repo")
    out.line(f"Total: {what}, {human_size(listing.size)} on disk ({listing.cache_dir})")
    for t, n in listing.tiers:
        out.line(f"Linked from read-only tier {t}: {human_size(n)} (not on this disk)")
