"""The ``download`` command: parse flags, call :func:`hubcli.download.engine.download`, render.

The local path (snapshot folder, the single file asked for, or the local dir) is the last line
of stdout, so ``MODEL=$(hubcli download org/name -q)`` works in scripts.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from hubcli.cli.common import (
    CacheDirOpt,
    CacheTierOpt,
    DryRunOpt,
    ExcludeOpt,
    IncludeOpt,
    JsonOpt,
    LimitRateOpt,
    MaxWorkersOpt,
    QuietOpt,
    RevisionOpt,
    TypeOpt,
    WorkersAliasOpt,
    check_limit_rate,
    max_workers,
)
from hubcli.cli.output import plural
from hubcli.units import human_rate, human_size

if TYPE_CHECKING:
    from hubcli.download.engine import DownloadResult


def _summary(result: DownloadResult) -> str:
    got = result.count("downloaded")
    parts = [f"{got} downloaded ({human_size(result.fetched_bytes)})"]
    for status in ("cached", "deduplicated"):
        if result.count(status):
            parts.append(f"{result.count(status)} {status}")
    if result.count("tier"):
        parts.append(f"{result.count('tier')} linked from a read-only tier")
    rate = ""
    if result.fetched_bytes and result.elapsed > 0:
        rate = f", {human_rate(result.fetched_bytes / result.elapsed)}"
    return (
        f"{result.repo_id}@{result.commit[:12]}: {plural(len(result.files), 'file')}, "
        + ", ".join(parts)
        + f" in {result.elapsed:.1f}s{rate}"
    )


def register(app: typer.Typer) -> None:
    @app.command("download")
    def download_cmd(
        ctx: typer.Context,
        repo: Annotated[
            str, typer.Argument(help="Repo: org/name, datasets/org/name or hf://...[@rev][/path].")
        ],
        files: Annotated[
            list[str] | None,
            typer.Argument(help="Only these files (a trailing '/' means a folder)."),
        ] = None,
        repo_type: TypeOpt = None,
        revision: RevisionOpt = None,
        include: IncludeOpt = None,
        exclude: ExcludeOpt = None,
        local_dir: Annotated[
            str | None,
            typer.Option("--local-dir", help="Real files in this folder instead of the cache."),
        ] = None,
        cache_dir: CacheDirOpt = None,
        cache_tier: CacheTierOpt = None,
        force: Annotated[
            bool, typer.Option("--force", help="Fetch again even what is already cached.")
        ] = False,
        dry_run: DryRunOpt = False,
        workers: MaxWorkersOpt = None,
        workers_alias: WorkersAliasOpt = None,
        offline: Annotated[
            bool, typer.Option("--offline", help="Use the cache only (like HF_HUB_OFFLINE=1).")
        ] = False,
        mirror: Annotated[
            list[str] | None,
            typer.Option("--mirror", help="Mirror tried after the endpoint (repeatable)."),
        ] = None,
        limit_rate: LimitRateOpt = None,
        json_out: JsonOpt = False,
        quiet: QuietOpt = False,
    ) -> None:
        """Download a repo (or some of its files) for offline use; print the local path."""
        from hubcli.cli.context import AppState

        state: AppState = ctx.obj.with_flags(
            cache_dir=cache_dir,
            offline=offline,
            mirrors=mirror,
            limit_rate=limit_rate,
            cache_tiers=cache_tier,
        )
        settings = state.settings
        check_limit_rate(settings.limit_rate)
        out = state.output(json_mode=json_out, quiet=quiet)
        ref = state.hub.ref(repo, repo_type)
        budget = None
        if settings.cache_max_size is not None:
            from hubcli.cli.cache_prune import cache_budget

            budget = cache_budget(settings)  # a bad value fails before the download
        if revision:
            if ref.revision and ref.revision != revision:
                from hubcli.errors import UsageError

                raise UsageError(
                    f"{repo!r} names revision {ref.revision} but --revision says {revision}."
                )
            ref = type(ref)(ref.repo_id, ref.repo_type, revision, ref.path)
        progress = None
        if out.show_progress and not dry_run:
            from hubcli.progress import BarProgress

            progress = BarProgress(sys.stderr, label=ref.repo_id)
        # No --max-workers: None, so the engine adapts the connection count (or takes the env's).
        n_workers = None
        if workers is not None or workers_alias is not None:
            n_workers = max_workers(workers, workers_alias, default=settings.max_workers)
        result = state.hub.download(
            ref,
            files or None,
            include=include or (),
            exclude=exclude or (),
            local_dir=local_dir,
            force=force,
            dry_run=dry_run,
            max_workers=n_workers,
            progress=progress,
        )

        if budget is not None and not dry_run and local_dir is None:
            from hubcli.cli.cache_prune import apply_cache_budget

            apply_cache_budget(settings, out, budget)

        def human() -> None:
            mirrors_used = [b for b in result.served_by if b != settings.endpoint]
            if mirrors_used:
                out.info(f"served by mirror {', '.join(mirrors_used)}")
            if dry_run:
                if not quiet:
                    for f in result.files:
                        out.line(f"{f.status:<18} {human_size(f.size):>10}  {f.path}")
                    fetch = sum(f.size for f in result.files if f.status.startswith("would_"))
                    total = human_size(result.total_size)
                    out.line(
                        f"{plural(len(result.files), 'file')}, {total} total, "
                        f"{human_size(fetch)} to fetch"
                    )
                return  # a dry run prints the plan, never a path it did not create
            out.info(_summary(result))
            out.line(str(result.path))  # the last stdout line, also with --quiet

        out.result(result, human)
