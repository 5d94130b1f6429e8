"""`hubcli preview`: the first rows of a dataset split, as a table or JSON lines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubcli.cli.common import RevisionOpt
from hubcli.cli.context import AppState

if TYPE_CHECKING:
    from rich.table import Table

    from hubcli.preview import Preview

MAX_CELL_WIDTH = 40


def preview(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(help="Dataset: datasets/org/name (or --type dataset).")],
    config: Annotated[
        str | None, typer.Option("--config", help="Subset (config) name; default: the default.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split name; default: the config's first.")
    ] = None,
    n: Annotated[int, typer.Option("-n", "--rows", help="How many rows (1-1000).")] = 10,
    repo_type: Annotated[
        str | None, typer.Option("--type", "--repo-type", help="Repo type (dataset).")
    ] = None,
    revision: RevisionOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="One JSON object per row (JSON lines) on stdout.")
    ] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Read from the cache only.")] = False,
) -> None:
    """Show the first rows of a dataset split (CSV, TSV, JSON, JSONL; Parquet with pyarrow).

    Reads only what the rows need: the cached file when it is there, else HTTP range requests
    on the split's first file (for Parquet: the footer and the first row group).
    """
    from hubcli.preview import preview as run_preview

    state: AppState = ctx.obj.with_flags(offline=offline)
    plain_id = not repo.startswith(("hf://", "models/", "spaces/", "datasets/"))
    ref = state.hub.ref(repo, repo_type or ("dataset" if plain_id else None))
    rev = revision or ref.revision or "main"
    out = state.output(json_mode=json_out)
    session = None if state.settings.offline else state.session()
    result = run_preview(
        state.settings, session, ref, revision=rev, config=config, split=split, n=n
    )
    where = f"{result.config}/{result.split}: {result.path}"
    how = "from the cache" if result.origin == "cache" else f"{result.bytes_read:,} bytes read"
    out.info(f"{where} ({result.format}; {how} of {result.file_size:,}).")
    if json_out:
        import json

        for row in result.rows:
            out.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        out.stdout.flush()
        return
    from hubcli.cli.render import emit

    if not result.rows:
        out.info("No rows.")
        return
    fancy = out.fancy
    emit(out.console(), rows_table(result, fancy=fancy), fancy=fancy)


def rows_table(result: Preview, *, fancy: bool) -> Table:
    """Columns headed by name and type; cells on one line, cut with an ellipsis."""
    from hubcli.cli.render import new_table

    table = new_table(fancy=fancy)
    for name in result.columns:
        kind = result.types.get(name, "")
        numeric = kind in ("int", "float")
        header = f"{name}\n{kind}" if fancy else f"{name} ({kind})"
        table.add_column(
            header,
            justify="right" if numeric else "left",
            no_wrap=True,
            overflow="ellipsis",
            max_width=MAX_CELL_WIDTH,
        )
    for row in result.rows:
        table.add_row(*[_show(row.get(c)) for c in result.columns])
    return table


def _show(value: Any) -> str:
    import json

    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return str(value).replace("\r", " ").replace("\n", " ")


EXAMPLES = (
    "hubcli preview datasets/stanfordnlp/imdb -n 5",
    "hubcli preview datasets/org/data --config en --split test --json | jq .text",
)


def register(app: typer.Typer) -> None:
    from hubcli.cli.common import EXAMPLES as ALL_EXAMPLES

    ALL_EXAMPLES.setdefault("preview", EXAMPLES)
    app.command("preview")(preview)
