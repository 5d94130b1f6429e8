"""Shared CLI pieces: the Typer factory every command group uses and the common option types."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def make_typer(**kwargs: Any) -> typer.Typer:
    """A Typer app with plain (fast) help and no pretty tracebacks: errors are ours to report."""
    kwargs.setdefault("no_args_is_help", True)
    kwargs.setdefault("add_completion", False)
    return typer.Typer(
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        **kwargs,
    )


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only results on stdout (ids or paths), no talk.")
]
TypeOpt = Annotated[
    str | None,
    typer.Option("--type", "--repo-type", help="Repo type: model, dataset or space."),
]
RevisionOpt = Annotated[
    str | None, typer.Option("--revision", help="Branch, tag or commit (default: main).")
]
