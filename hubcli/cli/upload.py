"""`hubcli upload`: publish a file or a folder to a repo (creating it if needed), or open a PR."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from hubcli.cli.common import (
    DryRunOpt,
    JsonOpt,
    LimitRateOpt,
    MaxWorkersOpt,
    QuietOpt,
    TypeOpt,
    WorkersAliasOpt,
    check_limit_rate,
    max_workers,
)
from hubcli.cli.context import AppState
from hubcli.cli.output import plural
from hubcli.errors import Interrupted
from hubcli.units import human_rate, human_size


def upload_command(
    ctx: typer.Context,
    repo: Annotated[
        str,
        typer.Argument(help="Repo id (org/name; a bare name is yours), created if missing."),
    ],
    local_path: Annotated[
        str, typer.Argument(help="File or folder to upload (default: current folder).")
    ] = ".",
    path_in_repo: Annotated[
        str | None,
        typer.Argument(help="Where in the repo (default: the root, or the file's name)."),
    ] = None,
    repo_type: TypeOpt = None,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="Branch to commit to, created if missing (default: main); not a tag or commit.",
        ),
    ] = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Only upload paths matching this glob.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Skip paths matching this glob.")
    ] = None,
    delete: Annotated[
        list[str] | None,
        typer.Option("--delete", help="Delete remote files matching this glob (not re-uploaded)."),
    ] = None,
    commit_message: Annotated[
        str | None, typer.Option("--commit-message", "-m", help="Commit title.")
    ] = None,
    commit_description: Annotated[
        str | None, typer.Option("--commit-description", help="Commit description.")
    ] = None,
    private: Annotated[
        bool, typer.Option("--private", help="Create the repo private if it does not exist.")
    ] = False,
    create_pr: Annotated[
        bool, typer.Option("--create-pr", help="Open a pull request instead of pushing.")
    ] = False,
    dry_run: DryRunOpt = False,
    workers: MaxWorkersOpt = None,
    workers_alias: WorkersAliasOpt = None,
    limit_rate: LimitRateOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Upload a file or folder. Prints the commit URL (or the PR URL) as the last stdout line."""
    from hubcli.progress import BarProgress, NullProgress, Progress
    from hubcli.upload.engine import plan_upload, upload

    state: AppState = ctx.obj.with_flags(limit_rate=limit_rate)
    check_limit_rate(state.settings.limit_rate)
    out = state.output(json_mode=json_out, quiet=quiet)
    n_workers = max_workers(workers, workers_alias, default=state.settings.max_workers, maximum=64)
    ref = state.hub.ref(repo, repo_type)
    if "/" not in ref.repo_id and state.settings.token:
        ref = state.client().owned_ref(ref)  # a bare name is the token user's
    if ref.path:
        path_in_repo = path_in_repo or ref.path
    plan = plan_upload(
        local_path,
        path_in_repo=path_in_repo,
        include=include or (),
        exclude=exclude or (),
        delete=delete or (),
    )
    if (include or exclude) and os.path.isfile(local_path):
        out.warn("--include/--exclude are ignored when uploading a single file.")
    verb = "Checking" if dry_run else "Uploading"
    out.info(f"{verb} {plural(len(plan.files), 'file')} to {ref}…")
    hash_bar: Progress = NullProgress()
    up_bar: Progress = NullProgress()
    if out.show_progress:
        hash_bar = BarProgress(out.stderr, label="hashing")
        up_bar = BarProgress(out.stderr, label="uploading")
    settings = state.settings
    started = time.monotonic()
    try:
        result = upload(
            state.client(),
            ref,
            plan,
            revision=revision,
            commit_message=commit_message,
            commit_description=commit_description or "",
            private=private,
            create_pr=create_pr,
            workers=n_workers,
            state_dir=settings.state_dir / "upload-parts",
            hash_cache_dir=settings.state_dir / "upload-hashes",
            progress=up_bar,
            hash_progress=hash_bar,
            say=out.info,
            dry_run=dry_run,
        )
    except KeyboardInterrupt:
        raise Interrupted(
            f"upload to {ref} interrupted; rerun the same command to resume it (files already "
            "committed and finished LFS files and parts are not sent again)."
        ) from None
    elapsed = max(time.monotonic() - started, 1e-6)

    def human() -> None:
        counts: dict[str, int] = {}
        for f in result.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no files"
        if result.dry_run:
            if not quiet:
                for f in result.files:
                    out.line(f"{f.status:<10} {human_size(f.size):>10}  {f.path}")
            out.info(
                f"Dry run, nothing sent: {summary}; {human_size(result.bytes_to_send)} to send."
            )
            return
        if result.nothing_to_commit:
            out.info(f"Nothing to commit: {ref} is up to date ({summary}).")
        else:
            speed = f", {human_rate(result.bytes_sent / elapsed)}" if result.bytes_sent else ""
            sent = human_size(result.bytes_sent)
            out.info(
                f"{summary}; sent {sent} of LFS data in {elapsed:.1f}s{speed}; "
                f"{plural(len(result.commits), 'commit')}."
            )
        if result.url:
            out.line(result.url)

    out.result(result, human)


def register(app: typer.Typer) -> None:
    app.command("upload")(upload_command)
