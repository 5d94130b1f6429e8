"""`hubcli cache move SRC DST`: move a cache (or some repos) to another folder or filesystem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hubcli.cli.cache import _repo_refs, cache_app
from hubcli.cli.common import JsonOpt, QuietOpt, TypeOpt
from hubcli.cli.context import AppState
from hubcli.cli.output import plural
from hubcli.units import human_size


@cache_app.command("move")
def move(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The cache to move from (a HF_HUB_CACHE folder).")],
    destination: Annotated[
        str, typer.Argument(help="The cache to move into (created if missing; may hold repos).")
    ],
    repo: Annotated[
        list[str] | None,
        typer.Option(
            "--repo",
            help="Move only this repo (repeatable; any form `cache ls` prints).",
        ),
    ] = None,
    repo_type: TypeOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Move cached repos to another folder or disk: blobs verified, hardlinks kept, each repo
    published whole; rerun to resume after an interruption. Prints the HF_HUB_CACHE to set."""
    from hubcli.cache.move import move_cache

    state: AppState = ctx.obj
    out = state.output(json_mode=json_out, quiet=quiet)
    refs = _repo_refs(state, repo, repo_type) if repo else None
    res = move_cache(
        Path(source).expanduser(),
        Path(destination).expanduser(),
        repos=refs,
        tiers=state.settings.cache_tiers,
    )

    def human() -> None:
        if not quiet:
            out.info(
                f"moved {plural(len(res.repos), 'repo')}: {plural(res.blobs_copied, 'blob')} "
                f"copied and verified ({human_size(res.bytes_copied)}), {res.blobs_linked} "
                f"hardlinked, {res.resumed} already staged"
            )
        out.line(f"export HF_HUB_CACHE={res.destination}")

    out.result(res, human)
