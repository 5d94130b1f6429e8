"""The `cache ls` model: rows (per repo or per revision), filters, sort and totals.

:func:`list_cache` is the library face (``hubcli cache ls`` only renders its
:class:`CacheListing`). Filters are ``KEY OP VALUE`` expressions (``size>1GB``, ``accessed>30d``,
``type=dataset``, ``name=org/*``, ``refs=refs/pr/*``, ``files>=10``); sizes are read by
:func:`hubcli.units.parse_size`, ages as a number with s, m, h, d, w, mo or y. No network here.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from hubcli.errors import UsageError
from hubcli.repo import display_id

if TYPE_CHECKING:
    from hubcli.cache.scan import CacheScan, ScannedRepo

SortKey = Literal["size", "name", "accessed", "modified"]
SortOrder = Literal["asc", "desc"]
FilterKey = Literal["size", "accessed", "modified", "type", "name", "id", "refs", "files"]
FilterOp = Literal[">=", "<=", "!=", "=", ">", "<"]

SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)
FILTER_KEYS: tuple[FilterKey, ...] = get_args(FilterKey)
_FILTER_RE = re.compile(r"\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*(.+?)\s*")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: bool(a > b),
    "<": lambda a, b: bool(a < b),
    ">=": lambda a, b: bool(a >= b),
    "<=": lambda a, b: bool(a <= b),
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
}


@dataclass(frozen=True)
class CacheRow:
    """One row: a cached repo, or (``revision`` set) one of its revisions."""

    repo_id: str
    repo_type: str
    path: str
    size: int
    files: int
    refs: tuple[str, ...]
    last_accessed: float
    last_modified: float
    revisions: int | None = None
    """How many revisions the repo has (repo rows only)."""
    revision: str | None = None
    """The commit (revision rows only)."""
    snapshot_path: str | None = None
    tiers: tuple[tuple[str, int], ...] = ()
    """Read-only tiers the row links files from, with the bytes (not counted in ``size``)."""

    @property
    def tier(self) -> str | None:
        """The tiers holding some of the row's files (``:``-separated, as HUBCLI_CACHE_TIERS)."""
        return ":".join(t for t, _n in self.tiers) or None

    @property
    def display_id(self) -> str:
        """The Hub form (``org/x``, ``datasets/org/y``): what every cache command accepts."""
        return display_id(self.repo_id, self.repo_type)

    @property
    def id(self) -> str:
        """What ``cache ls -q`` prints for this row: the display id, ``@<commit>`` for revisions."""
        return self.display_id + (f"@{self.revision}" if self.revision else "")

    def to_json(self) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": self.id,
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "path": self.path,
            "tier": self.tier,
            "tier_size": sum(n for _t, n in self.tiers),
        }
        if self.revision is not None:
            return {
                **base, "revision": self.revision, "size": self.size, "files": self.files,
                "refs": list(self.refs), "last_accessed": self.last_accessed,
                "last_modified": self.last_modified, "snapshot_path": self.snapshot_path,
            }  # fmt: skip
        return {
            **base, "size": self.size, "files": self.files, "revisions": self.revisions,
            "refs": list(self.refs), "last_accessed": self.last_accessed,
            "last_modified": self.last_modified,
        }  # fmt: skip


@dataclass(frozen=True)
class CacheFilter:
    """One ``KEY OP VALUE`` filter, checked when parsed (a bad one is a UsageError)."""

    key: FilterKey
    op: FilterOp
    value: str
    number: float | None = None
    """``value`` read as bytes (size), seconds (accessed/modified) or a count (files)."""

    @classmethod
    def parse(cls, expr: str) -> CacheFilter:
        m = _FILTER_RE.fullmatch(expr)
        key = m.group(1).lower() if m else ""
        if m is None or key not in FILTER_KEYS:
            raise UsageError(
                f"Invalid filter {expr!r}: use KEY OP VALUE with KEY in {', '.join(FILTER_KEYS)}, "
                "e.g. 'size>1GB', 'accessed>30d', 'type=dataset'."
            )
        op, value = m.group(2), m.group(3)
        number: float | None = None
        if key == "size":
            number = float(_size(value))
        elif key in ("accessed", "modified"):
            number = _age(value)
        elif key == "files":
            try:
                number = float(value)
            except ValueError:
                raise UsageError(f"Invalid filter {expr!r}: files needs a number.") from None
        elif key == "type":
            from hubcli.repo import normalize_repo_type

            value = normalize_repo_type(value)
        elif op not in ("=", "!="):
            raise UsageError(f"Invalid filter {expr!r}: {key} takes = or != (a glob).")
        return cls(key, op, value, number)  # type: ignore[arg-type]  # checked above

    def matches(self, row: CacheRow, now: float) -> bool:
        compare = _COMPARE[self.op]
        if self.key == "size":
            return compare(row.size, self.number)
        if self.key in ("accessed", "modified"):
            ts = row.last_accessed if self.key == "accessed" else row.last_modified
            return compare(now - (ts or 0.0), self.number)
        if self.key == "files":
            return compare(row.files, self.number)
        if self.key == "type":
            return compare(row.repo_type, self.value)
        if self.key == "refs":
            hit = any(fnmatch.fnmatchcase(r, self.value) for r in row.refs)
        else:  # name / id: a glob on the repo id, with or without the type prefix
            hit = any(
                fnmatch.fnmatchcase(name, self.value)
                for name in (row.repo_id, row.display_id, f"{row.repo_type}/{row.repo_id}")
            )
        return hit if self.op == "=" else not hit


def _size(value: str) -> int:
    from hubcli.units import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _age(value: str) -> float:
    from hubcli.units import parse_age

    try:
        return parse_age(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_sort(text: str) -> tuple[SortKey, SortOrder]:
    """``size``, ``name:asc``, ``accessed:desc`` ... -> (key, order). Without an order, ``name``
    sorts ascending and the others descending (biggest, most recent first)."""
    key, _, direction = text.partition(":")
    if key not in SORT_KEYS or direction not in ("", "asc", "desc"):
        raise UsageError(
            f"Invalid --sort {text!r}: use size, name, accessed or modified[:asc|:desc]."
        )
    order: SortOrder = "desc" if direction == "desc" or (not direction and key != "name") else "asc"
    return key, order


@dataclass(frozen=True)
class CacheListing:
    """What ``cache ls`` shows: the rows (filtered, sorted, limited) and their total size.

    ``size`` is the cache's real footprint (shared bytes counted once) when every row is shown,
    else the sum of the rows shown."""

    cache_dir: str
    per_revision: bool
    rows: tuple[CacheRow, ...]
    size: int
    warnings: tuple[str, ...] = ()
    tiers: tuple[tuple[str, int], ...] = ()  # bytes linked from each read-only tier

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_dir": self.cache_dir,
            "rows": [r.to_json() for r in self.rows],
            "total": {"rows": len(self.rows), "size": self.size},
            "tiers": [{"tier": t, "size": n} for t, n in self.tiers],
            "warnings": list(self.warnings),
        }


def _rows(repo: ScannedRepo, per_revision: bool) -> Iterable[CacheRow]:
    if not per_revision:
        refs = tuple(sorted(repo.refs))
        yield CacheRow(
            repo.repo_id, repo.repo_type, repo.path, repo.size, repo.nb_files, refs,
            repo.last_accessed, repo.last_modified, revisions=len(repo.revisions),
            tiers=tuple(sorted(repo.tiers.items())),
        )  # fmt: skip
        return
    for rev in repo.revisions:
        yield CacheRow(
            repo.repo_id, repo.repo_type, repo.path, rev.size, rev.nb_files, tuple(rev.refs),
            repo.last_accessed, rev.last_modified, revision=rev.commit, snapshot_path=rev.path,
            tiers=tuple(sorted(rev.tiers.items())),
        )  # fmt: skip


def _sort_key(key: SortKey) -> Callable[[CacheRow], Any]:
    if key == "size":
        return lambda r: r.size
    if key == "accessed":
        return lambda r: r.last_accessed
    if key == "modified":
        return lambda r: r.last_modified
    return lambda r: (r.repo_type, r.repo_id.lower(), r.revision or "")


def list_cache(
    cache: str | Path | CacheScan,
    *,
    per_revision: bool = False,
    filters: Sequence[str | CacheFilter] = (),
    repo_type: str | None = None,
    sort: SortKey = "name",
    order: SortOrder | None = None,
    limit: int = 0,
    now: float | None = None,
    tiers: Sequence[str | Path] = (),
) -> CacheListing:
    """List a cache folder (or an existing scan): one row per repo (or per revision), kept by
    every filter (``repo_type`` is ``type=...``), sorted (``order`` defaults as in
    :func:`parse_sort`), at most ``limit`` rows (0 = all). Bad filters raise UsageError."""
    from hubcli.cache.scan import CacheScan, scan_cache

    parsed = [f if isinstance(f, CacheFilter) else CacheFilter.parse(f) for f in filters]
    if repo_type:
        parsed.append(CacheFilter.parse(f"type={repo_type}"))
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {SORT_KEYS}, not {sort!r}")
    scan = cache if isinstance(cache, CacheScan) else scan_cache(cache, detail=False, tiers=tiers)
    when = time.time() if now is None else now
    rows = [
        row
        for repo in scan.repos
        for row in _rows(repo, per_revision)
        if all(f.matches(row, when) for f in parsed)
    ]
    if order is None:
        order = parse_sort(sort)[1]
    rows.sort(key=_sort_key(sort), reverse=order == "desc")
    if limit > 0:
        rows = rows[:limit]
    size = sum(r.size for r in rows) if parsed or limit > 0 else scan.size
    return CacheListing(
        scan.cache_dir, per_revision, tuple(rows), size, tuple(scan.warnings),
        tiers=tuple(sorted(scan.tiers.items())),
    )  # fmt: skip
