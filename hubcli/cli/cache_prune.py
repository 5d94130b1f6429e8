"""`hubcli cache prune`: garbage (detached revisions, unreferenced blobs...) or a size budget.

Also the size budget applied after ``download``/``sync`` (``HUBCLI_CACHE_MAX_SIZE``) and the lock
file pins (``--keep-locked`` / ``HUBCLI_KEEP_LOCKED``) both share.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubcli.cli.cache import _cache_dir, _run_plan, cache_app
from hubcli.cli.common import (
    CacheDirOpt,
    CacheTierOpt,
    DryRunOpt,
    JsonOpt,
    QuietOpt,
    YesOpt,
    size_option,
)
from hubcli.cli.context import AppState
from hubcli.cli.output import plural
from hubcli.units import human_size

if TYPE_CHECKING:
    from hubcli.cache.budget import BudgetPlan, Pin
    from hubcli.cli.output import Output
    from hubcli.config import Settings


def lock_pins(paths: Iterable[str | Path]) -> set[Pin]:
    """The revisions the lock files at ``paths`` pin: (type, id, commit) of every locked repo."""
    from hubcli.lock.lockfile import read_lock

    pins: set[Pin] = set()
    for path in paths:
        lock = read_lock(Path(path))
        pins.update((r.type, r.id, str(r.commit)) for r in lock.repos)
    return pins


def _age_value(value: str | None) -> float | None:
    if value is None:
        return None
    from hubcli.units import parse_age

    try:
        return parse_age(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None


def _show_budget(out: Output, plan: BudgetPlan) -> None:
    for r, c, why in plan.kept:
        out.info(f"kept {r}@{c[:12]}: {why}")
    budget = f" (budget {human_size(plan.max_size)})" if plan.max_size is not None else ""
    out.info(
        f"cache {human_size(plan.size_before)} -> {human_size(plan.size_after)}{budget}: "
        f"evicting {plural(len(plan.evictions), 'revision')}, least recently used first"
    )
    if not plan.fits:
        out.warn(
            f"the cache stays over budget ({human_size(plan.size_after)}): every other revision "
            "is pinned, in use or used too recently."
        )


@cache_app.command("prune")
def prune(
    ctx: typer.Context,
    max_size: Annotated[
        int | None,
        size_option(
            "--max-size",
            help="Evict least-recently-used revisions until the cache fits (e.g. 50GB, 40GiB).",
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Evict revisions unused for this long (30d, 12h); with --max-size, only those.",
        ),
    ] = None,
    keep_locked: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-locked",
            metavar="LOCKFILE",
            help="Never remove a revision this hubcli.lock pins (repeatable; default "
            "HUBCLI_KEEP_LOCKED).",
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    cache_dir: CacheDirOpt = None,
    cache_tier: CacheTierOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete detached revisions, unreferenced blobs, stale .incomplete files, dangling links and
    empty folders; or, with --max-size/--older-than, evict least-recently-used revisions (never
    one a running download uses, nor one --keep-locked pins)."""
    from hubcli.cache.clean import plan_prune

    state: AppState = ctx.obj.with_flags(keep_locked=keep_locked, cache_tiers=cache_tier)
    settings = state.settings
    out = state.output(json_mode=json_out, quiet=quiet)
    age = _age_value(older_than)
    pins = lock_pins(settings.keep_locked)
    directory = _cache_dir(state, cache_dir)
    if max_size is None and age is None:
        plan = plan_prune(directory, pins=pins, tiers=settings.cache_tiers)
        _run_plan(out, plan, dry_run=dry_run, yes=yes)
        return
    from hubcli.cache.budget import execute_budget, plan_budget

    plan = plan_budget(
        directory, max_size=max_size, older_than=age, pins=pins, tiers=settings.cache_tiers
    )
    if not quiet and not json_out:
        _show_budget(out, plan)
    _run_plan(out, plan, dry_run=dry_run, yes=yes, execute=execute_budget)


def cache_budget(settings: Settings) -> tuple[int, float] | None:
    """``HUBCLI_CACHE_MAX_SIZE`` and ``HUBCLI_CACHE_MIN_AGE`` read (bytes, seconds), or None when
    no budget is set; a value that cannot be read is a usage error (exit 2), raised before any
    download starts."""
    if settings.cache_max_size is None:
        return None
    from hubcli.errors import UsageError
    from hubcli.units import parse_age, parse_size

    try:
        limit = parse_size(settings.cache_max_size)
    except ValueError as exc:
        raise UsageError(f"HUBCLI_CACHE_MAX_SIZE: {exc}") from None
    try:
        age = parse_age(settings.cache_min_age)
    except ValueError as exc:
        raise UsageError(f"HUBCLI_CACHE_MIN_AGE: {exc}") from None
    return limit, age


def apply_cache_budget(
    settings: Settings,
    out: Output,
    budget: tuple[int, float] | None,
    *,
    extra_pins: Iterable[Pin] = (),
) -> BudgetPlan | None:
    """After a download or sync: evict revisions unused for ``HUBCLI_CACHE_MIN_AGE`` while the
    cache is over ``HUBCLI_CACHE_MAX_SIZE`` (pins: ``HUBCLI_KEEP_LOCKED`` and ``extra_pins``)."""
    if budget is None:
        return None
    limit, min_age = budget
    from hubcli.cache.budget import execute_budget, plan_budget
    from hubcli.cache.scan import scan_cache

    quick = scan_cache(settings.cache_dir, detail=False, tiers=settings.cache_tiers)
    if quick.size <= limit:
        return None
    pins = lock_pins(settings.keep_locked) | set(extra_pins)
    plan = plan_budget(
        settings.cache_dir,
        max_size=limit,
        older_than=min_age,
        pins=pins,
        tiers=settings.cache_tiers,
    )
    execute_budget(plan)
    for d, why in plan.skipped:
        out.warn(f"cache budget: skipped {d.path}: {why}")
    if plan.done:
        out.info(
            f"cache budget {human_size(limit)}: evicted "
            f"{plural(len(plan.evictions), 'revision')}, freed {human_size(plan.freed_done)}"
        )
    if not plan.fits:
        out.warn(
            f"the cache ({human_size(plan.size_after)}) is over HUBCLI_CACHE_MAX_SIZE="
            f"{human_size(limit)}: what is left is pinned, in use or used in the last "
            f"{settings.cache_min_age} (HUBCLI_CACHE_MIN_AGE)."
        )
    return plan
