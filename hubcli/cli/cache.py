"""`hubcli cache ...`: list, size, verify, repair, rm, prune, dedup, export and import the cache."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from hubcli.cli.cache_view import plural
from hubcli.cli.common import (
    CacheDirOpt,
    CacheTierOpt,
    DryRunOpt,
    ExcludeOpt,
    IncludeOpt,
    JsonOpt,
    MaxWorkersOpt,
    OnlyRevisionOpt,
    QuietOpt,
    TypeOpt,
    WorkersAliasOpt,
    YesOpt,
    confirm,
    make_typer,
    max_workers,
)
from hubcli.cli.context import AppState
from hubcli.repo import display_id
from hubcli.units import human_size

if TYPE_CHECKING:
    from hubcli.cache.clean import DeletionPlan
    from hubcli.cache.scan import CacheScan
    from hubcli.cli.output import Output

P = TypeVar("P", bound="DeletionPlan")

cache_app = make_typer(name="cache", help="Inspect and manage the local Hugging Face cache.")


def _scan(state: AppState, cache_dir: str | None) -> CacheScan:
    from hubcli.cache.scan import scan_cache

    return scan_cache(_cache_dir(state, cache_dir), detail=False, tiers=state.settings.cache_tiers)


def _cache_dir(state: AppState, cache_dir: str | None) -> Path:
    return state.with_flags(cache_dir=cache_dir).settings.cache_dir


def _warn_scan(out: Output, warnings: Sequence[str]) -> None:
    for w in warnings[:5]:
        out.warn(w)
    if len(warnings) > 5:
        more = plural(len(warnings) - 5, "more problem")
        out.warn(f"... and {more} (see `hubcli cache ls --json`).")


@cache_app.command("ls")
def ls(
    ctx: typer.Context,
    revisions: Annotated[bool, typer.Option("--revisions", help="One row per revision.")] = False,
    repo_type: TypeOpt = None,
    sort: Annotated[
        str, typer.Option("--sort", help="size, name, accessed or modified (append :asc/:desc).")
    ] = "name",
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", "-f", help="e.g. 'size>1GB', 'accessed>30d', 'type=dataset'."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most N rows (0 = all).")] = 0,
    cache_dir: CacheDirOpt = None,
    cache_tier: CacheTierOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List cached repos (or revisions) with size, files, refs, last accessed and modified (and
    the read-only tier holding their files, when tiers are used)."""
    from hubcli.cache.listing import list_cache, parse_sort
    from hubcli.cli.cache_view import render_listing

    state: AppState = ctx.obj.with_flags(cache_tiers=cache_tier)
    out = state.output(json_mode=json_out, quiet=quiet)
    key, order = parse_sort(sort)
    now = time.time()
    listing = list_cache(
        _cache_dir(state, cache_dir),
        per_revision=revisions,
        filters=filters or (),
        repo_type=repo_type,
        sort=key,
        order=order,
        limit=limit,
        now=now,
        tiers=state.settings.cache_tiers,
    )
    if not json_out:
        _warn_scan(out, listing.warnings)
    out.result(listing, lambda: render_listing(out, listing, now, quiet=quiet))


@cache_app.command("du")
def du(
    ctx: typer.Context,
    cache_dir: CacheDirOpt = None,
    cache_tier: CacheTierOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Where the disk goes: per repo and revision, shared bytes, unreferenced and partial blobs,
    and what is linked from read-only tiers (not on this disk)."""
    state: AppState = ctx.obj.with_flags(cache_tiers=cache_tier)
    out = state.output(json_mode=json_out)
    scan = _scan(state, cache_dir)
    repos: list[dict[str, Any]] = []
    for repo in sorted(scan.repos, key=lambda r: -r.size):
        unref = sum(b.size for b in repo.unreferenced_blobs())
        repos.append(
            {
                "repo_id": repo.repo_id, "repo_type": repo.repo_type, "size": repo.size,
                "unreferenced": unref, "incomplete": sum(s for _p, s, _m in repo.incomplete),
                "tier": ":".join(sorted(repo.tiers)) or None,
                "tier_size": sum(repo.tiers.values()),
                "revisions": [
                    {"revision": r.commit, "refs": list(r.refs), "size": r.size,
                     "tier": ":".join(sorted(r.tiers)) or None,
                     "tier_size": sum(r.tiers.values())}
                    for r in sorted(repo.revisions, key=lambda r: -r.size)
                ],
            }
        )  # fmt: skip
    incomplete = sum(s for _p, s, _m in scan.incomplete)
    unref_total = sum(r["unreferenced"] for r in repos)
    doc = {
        "cache_dir": scan.cache_dir, "size": scan.size, "shared": scan.shared,
        "unreferenced": unref_total, "incomplete": incomplete, "repos": repos,
        "tiers": [{"tier": t, "size": n} for t, n in sorted(scan.tiers.items())],
    }  # fmt: skip

    def human() -> None:
        _warn_scan(out, scan.warnings)
        for r in repos:
            tier = f"  (+{human_size(r['tier_size'])} in tier {r['tier']})" if r["tier"] else ""
            rid = display_id(r["repo_id"], r["repo_type"])
            out.line(f"{human_size(r['size']):>10}  {rid}{tier}")
            for rev in r["revisions"]:
                refs = f" ({', '.join(rev['refs'])})" if rev["refs"] else " (detached)"
                if rev["tier"]:
                    refs += f"  (+{human_size(rev['tier_size'])} in tier {rev['tier']})"
                out.line(f"{human_size(rev['size']):>10}    {rev['revision'][:12]}{refs}")
            if r["unreferenced"]:
                out.line(f"{human_size(r['unreferenced']):>10}    unreferenced blobs")
        out.line(f"{human_size(scan.shared):>10}  shared between repos (counted once)")
        out.line(f"{human_size(unref_total):>10}  unreferenced blobs (cache prune frees them)")
        out.line(f"{human_size(incomplete):>10}  incomplete downloads")
        for t, n in sorted(scan.tiers.items()):
            out.line(f"{human_size(n):>10}  linked from read-only tier {t} (not on this disk)")
        out.line(
            f"{human_size(scan.size):>10}  total ({plural(len(repos), 'repo')}, {scan.cache_dir})"
        )

    out.result(doc, human)


def _targets(targets: Sequence[str] | None) -> list[str]:
    """The targets as given, ``-`` replaced by the ids read from stdin (whitespace-separated);
    an empty stdin is a usage error, never "everything"."""
    import sys

    from hubcli.errors import UsageError

    out: list[str] = []
    for t in targets or ():
        if t != "-":
            out.append(t)
            continue
        read = sys.stdin.read().split()
        if not read:
            raise UsageError("`-` reads ids from stdin, and stdin held none: nothing to do.")
        out.extend(read)
    return out


def _repo_refs(
    state: AppState, targets: Sequence[str] | None, repo_type: str | None
) -> list[Any] | None:
    from hubcli.cache.clean import parse_target

    given = _targets(targets)
    if not given:
        return None
    return [parse_target(t, repo_type, endpoint=state.settings.endpoint) for t in given]


@cache_app.command("verify")
def verify(
    ctx: typer.Context,
    repos: Annotated[
        list[str] | None,
        typer.Argument(
            help="Repos, REPO@REVISION or REPO@REV/PATH (any form `cache ls` prints; `-` reads "
            "them from stdin). Default: every cached repo."
        ),
    ] = None,
    revision: OnlyRevisionOpt = None,
    all_repos: Annotated[bool, typer.Option("--all", help="Every cached repo (default).")] = False,
    online: Annotated[bool, typer.Option("--online", help="Also compare with the Hub.")] = False,
    local_dir: Annotated[
        str | None,
        typer.Option(
            "--local-dir",
            help="Verify a `download --local-dir` folder instead: re-hash each file against "
            "its .cache/huggingface/download metadata.",
        ),
    ] = None,
    include: IncludeOpt = None,
    exclude: ExcludeOpt = None,
    repo_type: TypeOpt = None,
    workers: MaxWorkersOpt = None,
    workers_alias: WorkersAliasOpt = None,
    cache_dir: CacheDirOpt = None,
    cache_tier: CacheTierOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Re-hash every blob against its etag and check every snapshot link; exit 6 on problems.
    Blobs linked from read-only tiers are hashed too (reported per tier)."""
    from hubcli.cache.verify import problem_id, verify_cache
    from hubcli.errors import IntegrityError, UsageError

    state: AppState = ctx.obj.with_flags(cache_tiers=cache_tier)
    out = state.output(json_mode=json_out, quiet=quiet)
    if repos and all_repos:
        raise UsageError("Give a repo or --all, not both.")
    n_workers = max_workers(workers, workers_alias, default=state.settings.max_workers)
    if local_dir is not None:
        from hubcli.cache.verify_local import verify_local_dir

        if repos or all_repos or revision or online:
            raise UsageError("--local-dir takes no repo, --all, --revision or --online.")
        report = verify_local_dir(
            Path(local_dir), include=include or (), exclude=exclude or (), workers=n_workers
        )
    else:
        refs = _repo_refs(state, repos, repo_type)
        if revision and not refs:
            raise UsageError("--revision needs a repo.")
        report = verify_cache(
            _cache_dir(state, cache_dir),
            repos=refs,
            revision=revision,
            client=state.client() if online else None,
            workers=n_workers,
            include=include or (),
            exclude=exclude or (),
            tiers=state.settings.cache_tiers,
        )

    def human() -> None:
        for p in report.problems:
            if quiet and not p.failing:
                continue
            where = "" if local_dir is not None else f" {problem_id(p)} "
            tier = f" [tier {p.tier}]" if p.tier else ""
            line = f"{p.kind:<14}{where} {p.path}  ({p.detail}){tier}"
            (out.line if p.failing else out.info)(line)
        if quiet:
            return
        status = "OK" if report.ok else plural(len(report.failures), "problem")
        what = (
            f"in {local_dir}"
            if local_dir is not None
            else f"in {plural(report.revisions, 'revision')} of {plural(report.repos, 'repo')}"
        )
        out.line(
            f"Verified {plural(report.files, 'file')} {what} "
            f"({plural(report.blobs_hashed, 'blob' if local_dir is None else 'file')}, "
            f"{human_size(report.bytes_hashed)} hashed): {status}"
        )
        for t, n in sorted(report.tiers.items()):
            out.line(
                f"  of which in read-only tier {t}: {plural(n['blobs'], 'blob')}, "
                f"{human_size(n['bytes'])}"
            )

    out.result(report, human)
    if not report.ok:
        where = local_dir if local_dir is not None else "the cache"
        raise IntegrityError(
            f"{plural(len(report.failures), 'corrupt, modified or missing file')} in {where}.",
            hint=(
                "Run `hubcli cache repair` to re-fetch them."
                if local_dir is None
                else "Download them again (`hubcli download ... --local-dir`)."
            ),
        )


@cache_app.command("repair")
def repair(
    ctx: typer.Context,
    repos: Annotated[
        list[str] | None,
        typer.Argument(help="Repos or REPO@REVISION (`-` reads them from stdin; default: all)."),
    ] = None,
    revision: OnlyRevisionOpt = None,
    repo_type: TypeOpt = None,
    cache_dir: CacheDirOpt = None,
    cache_tier: CacheTierOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Re-fetch exactly the corrupt or missing blobs from the Hub (needs the network)."""
    from hubcli.cache.verify import problem_id
    from hubcli.download.repair import repair_cache
    from hubcli.errors import IntegrityError

    state: AppState = ctx.obj.with_flags(cache_tiers=cache_tier)
    out = state.output(json_mode=json_out, quiet=quiet)
    directory = _cache_dir(state, cache_dir)
    result = repair_cache(
        directory,
        session=state.session(),
        repos=_repo_refs(state, repos, repo_type),
        revision=revision,
    )

    def human() -> None:
        for p in result.repaired:
            out.line(f"repaired  {problem_id(p)}  {p.path}")
        for p, err in result.failed:
            out.warn(f"cannot repair {problem_id(p)} {p.path}: {err}")
        if not quiet:
            out.line(
                f"Repaired {plural(len(result.repaired), 'file')}, "
                f"fetched {human_size(result.bytes_fetched)}."
            )

    out.result(result, human)
    if result.failed:
        raise IntegrityError(f"{plural(len(result.failed), 'file')} could not be repaired.")


def _show_plan(out: Output, plan: DeletionPlan, *, verb: str) -> None:
    for d in plan.items:
        size = human_size(d.size) if d.size else ""
        label = d.detail or ""
        out.line(f"{verb} {d.kind:<10} {size:>9}  {d.path}{'  ' + label if label else ''}")


def _run_plan(
    out: Output,
    plan: P,
    *,
    dry_run: bool,
    yes: bool,
    execute: Callable[[P], object] | None = None,
) -> None:
    from hubcli.cache.clean import execute_plan

    if not plan.items:
        out.result(
            plan.to_json(executed=not dry_run),
            lambda: None if out.quiet else out.line("Nothing to delete."),
        )
        return
    if dry_run:

        def would() -> None:
            _show_plan(out, plan, verb="would delete")
            if not out.quiet:
                out.line(
                    f"Would free {human_size(plan.freed)} "
                    f"({plural(len(plan.items), 'item')}; dry run)."
                )

        out.result(plan.to_json(executed=False), would)
        return
    if not out.quiet:
        _show_plan(out, plan, verb="delete")
    confirm(
        f"delete {plural(len(plan.items), 'item')}, freeing {human_size(plan.freed)}",
        yes=yes,
        hint="Pass --yes to confirm, or --dry-run to only look.",
    )
    (execute or execute_plan)(plan)

    def done() -> None:
        for d, why in plan.skipped:
            out.warn(f"skipped {d.path}: {why}")
        if not out.quiet:
            out.line(
                f"Deleted {plural(len(plan.done), 'item')}, freed {human_size(plan.freed_done)}."
            )

    out.result(plan.to_json(executed=True), done)


@cache_app.command("rm")
def rm(
    ctx: typer.Context,
    targets: Annotated[
        list[str],
        typer.Argument(
            help="REPO, REPO@REVISION or REPO@REV/PATH: any form `cache ls` prints (also Hub "
            "URLs and cache folders); `-` reads them from stdin."
        ),
    ],
    repo_type: TypeOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    cache_dir: CacheDirOpt = None,
    cache_tier: CacheTierOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove repos, revisions or files; frees only blobs no remaining snapshot uses (a link
    into a read-only tier is removed, never the tier's file)."""
    from hubcli.cache.clean import plan_rm

    state: AppState = ctx.obj.with_flags(cache_tiers=cache_tier)
    out = state.output(json_mode=json_out, quiet=quiet)
    plan = plan_rm(
        _cache_dir(state, cache_dir),
        _targets(targets),
        repo_type=repo_type,
        endpoint=state.settings.endpoint,
        tiers=state.settings.cache_tiers,
    )
    _run_plan(out, plan, dry_run=dry_run, yes=yes)


# `cache prune` lives in its own module; imported here so `cache --help` keeps this order.
from hubcli.cli import cache_prune  # noqa: E402, F401


@cache_app.command("dedup")
def dedup(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Hardlink identical blobs across repos (content checked by hash first); report bytes saved."""
    from hubcli.cache.clean import execute_dedup, plan_dedup

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    directory = _cache_dir(state, cache_dir)
    plan = plan_dedup(directory)
    if not dry_run:
        execute_dedup(directory, plan)

    def human() -> None:
        verb = "would link" if dry_run else "linked"
        for link in () if quiet else plan.links if dry_run else plan.done:
            out.line(f"{verb} {link.replace} -> {link.keep}")
        for path, why in plan.skipped:
            out.warn(f"skipped {path}: {why}")
        if quiet:
            return
        saved = plan.saved if dry_run else sum(lk.size for lk in plan.done)
        prefix = "Would save" if dry_run else "Saved"
        out.line(f"{prefix} {human_size(saved)} ({plural(len(plan.links), 'duplicate blob')}).")

    out.result(plan.to_json(executed=not dry_run), human)


@cache_app.command("export")
def export(
    ctx: typer.Context,
    targets: Annotated[
        list[str],
        typer.Argument(
            help="REPO or REPO@REVISION (one or more; any form `cache ls` prints; `-` reads "
            "them from stdin)."
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Bundle file (.tar or .tar.gz).")],
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Export a revision even when files its cached tree lists are not cached "
            "(offline, huggingface_hub then raises IncompleteSnapshotError).",
        ),
    ] = False,
    repo_type: TypeOpt = None,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write cached repos into a bundle to carry to another (e.g. air-gapped) machine."""
    from hubcli.cache.bundle import export_bundle

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    res = export_bundle(
        _cache_dir(state, cache_dir),
        _targets(targets),
        Path(output),
        repo_type=repo_type,
        allow_incomplete=allow_incomplete,
        endpoint=state.settings.endpoint,
    )

    def human() -> None:
        if quiet:
            out.line(res.path)
            return
        out.line(
            f"Exported {', '.join(res.repos)}: {plural(res.revisions, 'revision')}, "
            f"{plural(res.files, 'file')}, {plural(res.blobs, 'blob')} "
            f"({human_size(res.bytes)}) -> {res.path}"
        )

    out.result(res, human)


@cache_app.command("import")
def import_(
    ctx: typer.Context,
    bundle: Annotated[str, typer.Argument(help="Bundle written by `hubcli cache export`.")],
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Verify every blob of a bundle, then merge it into the cache (existing blobs are reused)."""
    from hubcli.cache.bundle import import_bundle

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    res = import_bundle(_cache_dir(state, cache_dir), Path(bundle))

    def human() -> None:
        for note in res.kept:
            out.warn(note)
        if quiet:
            for repo in res.repos:
                out.line(repo)
            return
        out.line(
            f"Imported {', '.join(res.repos)}: {plural(res.revisions, 'revision')}, "
            f"{plural(res.files, 'file')}; {plural(res.blobs, 'new blob')} "
            f"({human_size(res.bytes)}), {res.blobs_skipped} already present."
        )

    out.result(res, human)


# `cache move` lives in its own module (after export/import in `cache --help`).
from hubcli.cli import cache_move  # noqa: E402, F401


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
