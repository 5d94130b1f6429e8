"""`hubcli cache ...`: list, size, verify, repair, rm, prune, dedup, export and import the cache."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.cache_view import human_age, human_size, matches, parse_filter, table
from hubcli.cli.common import JsonOpt, QuietOpt, TypeOpt, make_typer
from hubcli.cli.context import AppState

if TYPE_CHECKING:
    from hubcli.cache_clean import DeletionPlan
    from hubcli.cache_scan import CacheScan
    from hubcli.cli.output import Output

cache_app = make_typer(name="cache", help="Inspect and manage the local Hugging Face cache.")

CacheDirOpt = Annotated[
    str | None, typer.Option("--cache-dir", help="Cache folder (default: HF_HUB_CACHE).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _scan(state: AppState, cache_dir: str | None) -> CacheScan:
    from hubcli.cache_scan import scan_cache

    return scan_cache(_cache_dir(state, cache_dir), detail=False)


def _cache_dir(state: AppState, cache_dir: str | None) -> Path:
    if cache_dir:
        state.override(cache_dir=cache_dir)
    return Path(state.settings.cache_dir)


def _warn_scan(out: Output, scan: CacheScan) -> None:
    for w in scan.warnings[:5]:
        out.warn(w)
    if len(scan.warnings) > 5:
        out.warn(f"... and {len(scan.warnings) - 5} more problems (see `hubcli cache ls --json`).")


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
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """List cached repos (or revisions) with size, files, refs, last accessed and modified."""
    from hubcli.errors import UsageError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    key, _, direction = sort.partition(":")
    if key not in ("size", "name", "accessed", "modified") or direction not in ("", "asc", "desc"):
        raise UsageError(
            f"Invalid --sort {sort!r}: use size, name, accessed or modified[:asc|:desc]."
        )
    parsed = [parse_filter(f) for f in filters or []]
    if repo_type:
        parsed.append(("type", "=", repo_type))
    scan = _scan(state, cache_dir)
    now = time.time()
    rows: list[dict[str, Any]] = []
    for repo in scan.repos:
        base = {"repo_id": repo.repo_id, "repo_type": repo.repo_type, "path": repo.path}
        if revisions:
            for rev in repo.revisions:
                rows.append(
                    {
                        **base, "revision": rev.commit, "size": rev.size, "files": rev.nb_files,
                        "refs": list(rev.refs), "last_accessed": repo.last_accessed,
                        "last_modified": rev.last_modified, "snapshot_path": rev.path,
                    }
                )  # fmt: skip
        else:
            rows.append(
                {
                    **base, "size": repo.size, "files": repo.nb_files,
                    "revisions": len(repo.revisions), "refs": sorted(repo.refs),
                    "last_accessed": repo.last_accessed, "last_modified": repo.last_modified,
                }
            )  # fmt: skip
    rows = [r for r in rows if matches(r, parsed, now)]
    sort_key = {
        "size": lambda r: r["size"],
        "name": lambda r: (r["repo_type"], r["repo_id"].lower(), r.get("revision", "")),
        "accessed": lambda r: r["last_accessed"],
        "modified": lambda r: r["last_modified"],
    }[key]
    desc = direction == "desc" or (direction == "" and key != "name")
    rows.sort(key=sort_key, reverse=desc)
    if limit > 0:
        rows = rows[:limit]
    size_total = sum(r["size"] for r in rows) if parsed or limit else scan.size
    if json_out:
        out.json(
            {
                "cache_dir": scan.cache_dir,
                "rows": rows,
                "total": {"rows": len(rows), "size": size_total},
                "warnings": scan.warnings,
            }
        )
        return
    _warn_scan(out, scan)
    if quiet:
        for r in rows:
            rid = f"{r['repo_type']}/{r['repo_id']}"
            out.line(f"{rid}@{r['revision']}" if revisions else rid)
        return
    grid: list[list[str]] = []
    for r in rows:
        cells = [f"{r['repo_type']}/{r['repo_id']}"]
        if revisions:
            cells.append(r["revision"][:12])
        cells += [human_size(r["size"]), str(r["files"])]
        if not revisions:
            cells.append(str(r["revisions"]))
        cells += [
            ",".join(r["refs"]) or "-",
            human_age(r["last_accessed"], now),
            human_age(r["last_modified"], now),
        ]
        grid.append(cells)
    header = ["ID", *(["REVISION"] if revisions else []), "SIZE", "FILES"]
    header += [*([] if revisions else ["REVS"]), "REFS", "ACCESSED", "MODIFIED"]
    size_col = 2 if revisions else 1
    table(out, header, grid, {size_col, size_col + 1, size_col + 2})
    what = "revisions" if revisions else "repos"
    out.line(f"Total: {len(rows)} {what}, {human_size(size_total)} on disk ({scan.cache_dir})")


@cache_app.command("du")
def du(ctx: typer.Context, cache_dir: CacheDirOpt = None, json_out: JsonOpt = False) -> None:
    """Where the disk goes: per repo and revision, shared bytes, unreferenced and partial blobs."""
    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    scan = _scan(state, cache_dir)
    repos: list[dict[str, Any]] = []
    for repo in sorted(scan.repos, key=lambda r: -r.size):
        unref = sum(b.size for b in repo.unreferenced_blobs())
        repos.append(
            {
                "repo_id": repo.repo_id, "repo_type": repo.repo_type, "size": repo.size,
                "unreferenced": unref, "incomplete": sum(s for _p, s, _m in repo.incomplete),
                "revisions": [
                    {"revision": r.commit, "refs": list(r.refs), "size": r.size}
                    for r in sorted(repo.revisions, key=lambda r: -r.size)
                ],
            }
        )  # fmt: skip
    incomplete = sum(s for _p, s, _m in scan.incomplete)
    unref_total = sum(r["unreferenced"] for r in repos)
    doc = {
        "cache_dir": scan.cache_dir, "size": scan.size, "shared": scan.shared,
        "unreferenced": unref_total, "incomplete": incomplete, "repos": repos,
    }  # fmt: skip
    if json_out:
        out.json(doc)
        return
    _warn_scan(out, scan)
    for r in repos:
        out.line(f"{human_size(r['size']):>10}  {r['repo_type']}/{r['repo_id']}")
        for rev in r["revisions"]:
            refs = f" ({', '.join(rev['refs'])})" if rev["refs"] else " (detached)"
            out.line(f"{human_size(rev['size']):>10}    {rev['revision'][:12]}{refs}")
        if r["unreferenced"]:
            out.line(f"{human_size(r['unreferenced']):>10}    unreferenced blobs")
    out.line(f"{human_size(scan.shared):>10}  shared between repos (counted once)")
    out.line(f"{human_size(unref_total):>10}  unreferenced blobs (cache prune frees them)")
    out.line(f"{human_size(incomplete):>10}  incomplete downloads")
    out.line(f"{human_size(scan.size):>10}  total ({len(repos)} repos, {scan.cache_dir})")


def _repo_refs(repo: str | None, repo_type: str | None) -> list[Any] | None:
    from hubcli.repo import parse_repo_ref

    return [parse_repo_ref(repo, repo_type)] if repo else None


@cache_app.command("verify")
def verify(
    ctx: typer.Context,
    repo: Annotated[
        str | None, typer.Argument(help="Repo id (default: every cached repo).")
    ] = None,
    revision: Annotated[str | None, typer.Option("--revision", help="Only this revision.")] = None,
    all_repos: Annotated[bool, typer.Option("--all", help="Every cached repo (default).")] = False,
    online: Annotated[bool, typer.Option("--online", help="Also compare with the Hub.")] = False,
    repo_type: TypeOpt = None,
    workers: Annotated[int, typer.Option("--workers", help="Hashing threads.")] = 8,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-hash every blob against its etag and check every snapshot link; exit 6 on problems."""
    from hubcli.cache_ops import verify_cache
    from hubcli.errors import IntegrityError, UsageError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    if repo and all_repos:
        raise UsageError("Give a repo or --all, not both.")
    if revision and not repo:
        raise UsageError("--revision needs a repo.")
    directory = _cache_dir(state, cache_dir)
    report = verify_cache(
        directory,
        repos=_repo_refs(repo, repo_type),
        revision=revision,
        client=state.client() if online else None,
        workers=workers,
    )
    if json_out:
        out.json(report.to_json())
    else:
        for p in report.problems:
            line = f"{p.kind:<14} {p.repo_type}/{p.repo}@{p.commit[:12]}  {p.path}  ({p.detail})"
            (out.line if p.failing else out.info)(line)
        status = "OK" if report.ok else f"{len(report.failures)} problem(s)"
        out.line(
            f"Verified {report.files} files in {report.revisions} revisions of "
            f"{report.repos} repos ({report.blobs_hashed} blobs, "
            f"{human_size(report.bytes_hashed)} hashed): {status}"
        )
    if not report.ok:
        raise IntegrityError(
            f"{len(report.failures)} corrupt or missing file(s) in the cache.",
            hint="Run `hubcli cache repair` to re-fetch them.",
        )


@cache_app.command("repair")
def repair(
    ctx: typer.Context,
    repo: Annotated[
        str | None, typer.Argument(help="Repo id (default: every cached repo).")
    ] = None,
    revision: Annotated[str | None, typer.Option("--revision", help="Only this revision.")] = None,
    repo_type: TypeOpt = None,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-fetch exactly the corrupt or missing blobs from the Hub (needs the network)."""
    from hubcli.cache_ops import repair_cache
    from hubcli.errors import IntegrityError

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    directory = _cache_dir(state, cache_dir)
    result = repair_cache(
        directory, session=state.session(), repos=_repo_refs(repo, repo_type), revision=revision
    )
    if json_out:
        out.json(result.to_json())
    else:
        for p in result.repaired:
            out.line(f"repaired  {p.repo_type}/{p.repo}@{p.commit[:12]}  {p.path}")
        for p, err in result.failed:
            out.warn(f"cannot repair {p.repo_type}/{p.repo}@{p.commit[:12]} {p.path}: {err}")
        out.line(
            f"Repaired {len(result.repaired)} file(s), fetched {human_size(result.bytes_fetched)}."
        )
    if result.failed:
        raise IntegrityError(f"{len(result.failed)} file(s) could not be repaired.")


def _confirm(out: Output, question: str, yes: bool) -> bool:
    from hubcli.errors import UsageError

    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "Refusing to delete without confirmation: pass --yes (stdin is not a terminal), "
            "or --dry-run to only look."
        )
    out.stderr.write(f"{question} [y/N] ")
    out.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _show_plan(out: Output, plan: DeletionPlan, *, verb: str) -> None:
    for d in plan.items:
        size = human_size(d.size) if d.size else ""
        label = d.detail or ""
        out.line(f"{verb} {d.kind:<10} {size:>9}  {d.path}{'  ' + label if label else ''}")


def _run_plan(out: Output, plan: DeletionPlan, *, dry_run: bool, yes: bool, json_out: bool) -> None:
    from hubcli.cache_clean import execute_plan

    if not plan.items:
        if json_out:
            out.json(plan.to_json(executed=not dry_run))
        else:
            out.line("Nothing to delete.")
        return
    if dry_run:
        if json_out:
            out.json(plan.to_json(executed=False))
        else:
            _show_plan(out, plan, verb="would delete")
            out.line(f"Would free {human_size(plan.freed)} ({len(plan.items)} items; dry run).")
        return
    if not json_out:
        _show_plan(out, plan, verb="delete")
    question = f"Delete {len(plan.items)} items, freeing {human_size(plan.freed)}?"
    if not _confirm(out, question, yes):
        out.info("Nothing deleted.")
        raise typer.Exit(1)
    execute_plan(plan)
    if json_out:
        out.json(plan.to_json(executed=True))
        return
    for d, why in plan.skipped:
        out.warn(f"skipped {d.path}: {why}")
    out.line(f"Deleted {len(plan.done)} items, freed {human_size(plan.freed_done)}.")


@cache_app.command("rm")
def rm(
    ctx: typer.Context,
    targets: Annotated[list[str], typer.Argument(help="REPO, REPO@REVISION or REPO@REV/PATH.")],
    repo_type: TypeOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove repos, revisions or files; frees only blobs no remaining snapshot uses."""
    from hubcli.cache_clean import plan_rm

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    plan = plan_rm(_cache_dir(state, cache_dir), targets, repo_type=repo_type)
    _run_plan(out, plan, dry_run=dry_run, yes=yes, json_out=json_out)


@cache_app.command("prune")
def prune(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete detached revisions, unreferenced blobs, stale .incomplete files, dangling links and
    empty folders (never anything a running download holds a lock on)."""
    from hubcli.cache_clean import plan_prune

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    plan = plan_prune(_cache_dir(state, cache_dir))
    _run_plan(out, plan, dry_run=dry_run, yes=yes, json_out=json_out)


@cache_app.command("dedup")
def dedup(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Hardlink identical blobs across repos (content checked by hash first); report bytes saved."""
    from hubcli.cache_clean import execute_dedup, plan_dedup

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    directory = _cache_dir(state, cache_dir)
    plan = plan_dedup(directory)
    if not dry_run:
        execute_dedup(directory, plan)
    if json_out:
        out.json(plan.to_json(executed=not dry_run))
        return
    verb = "would link" if dry_run else "linked"
    for link in plan.links if dry_run else plan.done:
        out.line(f"{verb} {link.replace} -> {link.keep}")
    for path, why in plan.skipped:
        out.warn(f"skipped {path}: {why}")
    saved = plan.saved if dry_run else sum(lk.size for lk in plan.done)
    prefix = "Would save" if dry_run else "Saved"
    out.line(f"{prefix} {human_size(saved)} ({len(plan.links)} duplicate blobs).")


@cache_app.command("export")
def export(
    ctx: typer.Context,
    targets: Annotated[list[str], typer.Argument(help="REPO or REPO@REVISION (one or more).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Bundle file (.tar or .tar.gz).")],
    repo_type: TypeOpt = None,
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write cached repos into a bundle to carry to another (e.g. air-gapped) machine."""
    from hubcli.bundle import export_bundle

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    res = export_bundle(_cache_dir(state, cache_dir), targets, Path(output), repo_type=repo_type)
    if json_out:
        out.json(res.to_json())
        return
    out.line(
        f"Exported {', '.join(res.repos)}: {res.revisions} revisions, {res.files} files, "
        f"{res.blobs} blobs ({human_size(res.bytes)}) -> {res.path}"
    )


@cache_app.command("import")
def import_(
    ctx: typer.Context,
    bundle: Annotated[str, typer.Argument(help="Bundle written by `hubcli cache export`.")],
    cache_dir: CacheDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Verify every blob of a bundle, then merge it into the cache (existing blobs are reused)."""
    from hubcli.bundle import import_bundle

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out)
    res = import_bundle(_cache_dir(state, cache_dir), Path(bundle))
    if json_out:
        out.json(res.to_json())
        return
    for note in res.kept:
        out.warn(note)
    out.line(
        f"Imported {', '.join(res.repos)}: {res.revisions} revisions, {res.files} files; "
        f"{res.blobs} new blobs ({human_size(res.bytes)}), {res.blobs_skipped} already present."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
