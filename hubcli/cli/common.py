"""Shared CLI pieces: the Typer factory, the option definitions every command reuses (one each),
the size option parser, the worker-count alias and the one confirmation prompt.

Keep this module light: it is imported on every run (no rich, requests or hubcli engines here).
"""

from __future__ import annotations

import sys
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


# -- sizes --------------------------------------------------------------------------------------
def size_option_value(value: str | int) -> int:
    """Typer ``parser=`` for options that take a size: ``500MB``, ``2GiB``, ``1024`` (bytes).

    Errors are usage errors (exit 2) that say how to write the size."""
    from hubcli.units import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def size_option(*names: str, help: str) -> Any:
    """A Typer option taking a size (see :mod:`hubcli.units`), e.g.
    ``Annotated[int, size_option("--max-size", help="...")]``; ``--max-size`` is the spelling
    for every size budget."""
    return typer.Option(*names, parser=size_option_value, metavar="SIZE", help=help)


# -- options shared by several commands -----------------------------------------------------------
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
OnlyRevisionOpt = Annotated[
    str | None, typer.Option("--revision", help="Only this revision (needs a repo).")
]
CacheDirOpt = Annotated[
    str | None, typer.Option("--cache-dir", help="Cache folder (default: HF_HUB_CACHE).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation (needed without a terminal)."),
]
MaxWorkersOpt = Annotated[
    int | None,
    typer.Option("--max-workers", min=1, help="Parallel workers (default 8)."),
]
WorkersAliasOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, hidden=True, help="Alias of --max-workers."),
]
DEFAULT_WORKERS = 8


def max_workers(
    value: int | None,
    alias: int | None,
    *,
    default: int = DEFAULT_WORKERS,
    maximum: int | None = None,
) -> int:
    """The worker count from ``--max-workers`` or its hidden alias ``--workers`` (a usage error
    when both are given and disagree, or above ``maximum``)."""
    if value is not None and alias is not None and value != alias:
        raise typer.BadParameter(
            f"--max-workers {value} and --workers {alias} disagree (--workers is an alias).",
            param_hint="--max-workers",
        )
    chosen = value if value is not None else alias if alias is not None else default
    if maximum is not None and chosen > maximum:
        raise typer.BadParameter(f"{chosen} is more than {maximum}.", param_hint="--max-workers")
    return chosen


# -- confirmation ---------------------------------------------------------------------------------
def confirm(action: str, *, yes: bool, hint: str = "Pass --yes to confirm.") -> None:
    """Ask ``Really <action>? [y/N]`` on stderr and return once the user said yes.

    ``--yes`` skips the question. Without a terminal on stdin nobody can answer: refuse with a
    usage error (exit 2) naming ``--yes``. Any answer but y/yes ends the command with exit 1.
    """
    if yes:
        return
    from hubcli.errors import UsageError

    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        raise UsageError(
            f"Refusing to {action} without confirmation: stdin is not a terminal.", hint=hint
        )
    sys.stderr.write(f"Really {action}? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        sys.stderr.write("Not confirmed: nothing changed.\n")
        raise typer.Exit(1)
