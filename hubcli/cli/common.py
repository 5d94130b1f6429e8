"""Shared CLI pieces: the Typer factory, the option definitions every command reuses (one each),
the size option parser, the worker-count alias and the one confirmation prompt.

Keep this module light: it is imported on every run (no rich, requests or hubcli engines here).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.models import DefaultPlaceholder


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


def check_limit_rate(text: str | None) -> None:
    """Refuse (exit 2) a ``--limit-rate`` / ``HUBCLI_LIMIT_RATE`` that cannot be read, before
    any transfer starts."""
    if text is None:
        return
    from hubcli.errors import UsageError
    from hubcli.units import parse_rate

    try:
        parse_rate(text)
    except ValueError as exc:
        raise UsageError(f"--limit-rate / HUBCLI_LIMIT_RATE: {exc}") from None


# -- options shared by several commands -----------------------------------------------------------
LimitRateOpt = Annotated[
    str | None,
    typer.Option(
        "--limit-rate",
        metavar="RATE",
        help="Average at most RATE bytes/s over all connections of the run (5MB, 512KiB; "
        "default HUBCLI_LIMIT_RATE); download and sync then fix their connection count unless "
        "--max-workers does.",
    ),
]
IncludeOpt = Annotated[
    list[str] | None, typer.Option("--include", help="Only files matching this glob.")
]
ExcludeOpt = Annotated[
    list[str] | None, typer.Option("--exclude", help="Skip files matching this glob.")
]
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
CacheTierOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cache-tier",
        metavar="DIR",
        help="A read-only cache consulted before the writable one (repeatable, in order; "
        "default HUBCLI_CACHE_TIERS). Never written to.",
    ),
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
    typer.Option(
        "--max-workers",
        min=1,
        help="Parallel workers (default 8; download: adaptive, 8 to 32 connections, "
        "this fixes them).",
    ),
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


# -- examples in --help ---------------------------------------------------------------------------
# Each command's "Examples:" section (1-3 realistic lines), by command path. Applied to the Typer
# apps once they are registered (:func:`add_examples`), so a command module only adds its line
# here; a test checks that every command has one.
EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "hubcli download org/model --include '*.safetensors'",
        "hubcli cache ls --sort size:desc",
        "hubcli info org/model --json",
    ),
    "env": ("hubcli env", "hubcli env --json | jq -r .cache_dir"),
    "auth": ("hubcli auth login", "hubcli auth whoami"),
    "auth login": (
        "hubcli auth login",
        'echo "$HF_TOKEN" | hubcli auth login',
        "hubcli auth login --token hf_xxx --token-name work",
    ),
    "auth logout": ("hubcli auth logout", "hubcli auth logout --token-name work"),
    "auth whoami": ("hubcli auth whoami", "hubcli auth whoami --json | jq -r .user"),
    "auth list": ("hubcli auth list", "hubcli auth list --json"),
    "auth switch": ("hubcli auth switch work",),
    "completion": (
        'eval "$(hubcli completion bash)"',
        'hubcli completion zsh > "${fpath[1]}/_hubcli"',
        "hubcli completion fish > ~/.config/fish/completions/hubcli.fish",
    ),
    "search": (
        "hubcli search bert --task fill-mask --sort downloads",
        "hubcli search --type dataset --author openai -n 5",
        "hubcli search llama --json | jq -r '.results[].id'",
    ),
    "info": (
        "hubcli info openai-community/gpt2",
        "hubcli info datasets/stanfordnlp/imdb --json | jq .total_size",
    ),
    "files": (
        "hubcli files openai-community/gpt2",
        "hubcli files org/model onnx -R",
        "hubcli files org/model -q | grep safetensors",
    ),
    "ls": ("hubcli ls openai-community/gpt2", "hubcli ls org/model --revision v1.0 --json"),
    "card": (
        "hubcli card openai-community/gpt2",
        "hubcli card org/model --raw > README.md",
        "hubcli card org/model --json | jq .metadata.license",
    ),
    "download": (
        "hubcli download org/model --include '*.safetensors'",
        "MODEL=$(hubcli download org/model --revision v1.0 -q)",
        "hubcli download datasets/org/data --local-dir ./data",
    ),
    "upload": (
        "hubcli upload org/model ./checkpoint",
        "hubcli upload org/model model.safetensors weights/model.safetensors -m 'New weights'",
        "hubcli upload org/model . --exclude '*.log' --dry-run",
    ),
    "repo": ("hubcli repo create org/model --private", "hubcli repo refs org/model"),
    "repo refs": ("hubcli repo refs org/model", "hubcli repo refs org/model --include-prs --json"),
    "repo create": (
        "hubcli repo create org/model --private",
        "hubcli repo create my-space --type space --space-sdk gradio",
    ),
    "repo delete": ("hubcli repo delete org/old-model --yes",),
    "repo branch": ("hubcli repo branch create org/model dev",),
    "repo branch create": (
        "hubcli repo branch create org/model dev",
        "hubcli repo branch create org/model release --revision v1.0",
    ),
    "repo branch delete": ("hubcli repo branch delete org/model dev --yes",),
    "repo tag": ("hubcli repo tag create org/model v1.0",),
    "repo tag create": (
        "hubcli repo tag create org/model v1.0",
        "hubcli repo tag create org/model v1.1 --revision dev -m 'Second release'",
    ),
    "repo tag delete": ("hubcli repo tag delete org/model v1.0 --yes",),
    "cache": ("hubcli cache ls", "hubcli cache du", "hubcli cache prune --dry-run"),
    "cache ls": (
        "hubcli cache ls --sort size:desc --limit 10",
        "hubcli cache ls --revisions --filter 'accessed>30d'",
        "hubcli cache ls --filter 'accessed>30d' -q | xargs hubcli cache rm --yes",
    ),
    "cache du": ("hubcli cache du", "hubcli cache du --json | jq .unreferenced"),
    "cache verify": (
        "hubcli cache verify",
        "hubcli cache verify org/model --revision main --online",
        "hubcli cache verify --local-dir ./data",
    ),
    "cache repair": ("hubcli cache repair", "hubcli cache repair org/model"),
    "cache rm": (
        "hubcli cache rm org/model --dry-run",
        "hubcli cache rm datasets/org/data@0123abcd --yes",
        "hubcli cache ls -q --filter 'size>10GB' | hubcli cache rm - --yes",
    ),
    "cache prune": (
        "hubcli cache prune --dry-run",
        "hubcli cache prune --yes",
        "hubcli cache prune --max-size 50GB --keep-locked hubcli.lock --dry-run",
    ),
    "cache dedup": ("hubcli cache dedup --dry-run", "hubcli cache dedup"),
    "cache move": (
        "hubcli cache move ~/.cache/huggingface/hub /data/hf/hub",
        "hubcli cache move ~/.cache/huggingface/hub /data/hf/hub --repo org/model",
    ),
    "cache export": (
        "hubcli cache export org/model -o model.tar",
        "hubcli cache export org/model@v1.0 datasets/org/data -o bundle.tar.gz",
    ),
    "cache import": ("hubcli cache import bundle.tar.gz",),
    "add": (
        "hubcli add org/model --include '*.safetensors' --include '*.json'",
        "hubcli add datasets/org/data --revision v1.0 --local-dir ./data",
    ),
    "remove": ("hubcli remove org/model", "hubcli remove datasets/org/data --json"),
    "lock": (
        "hubcli lock",
        "hubcli lock --upgrade-repo org/model",
        "KEY=$(hubcli lock --cache-key)",
    ),
    "outdated": ("hubcli outdated", "hubcli outdated --json | jq '.repos[] | select(.outdated)'"),
    "sync": ("hubcli sync", "hubcli sync --frozen", "hubcli sync --locked --deny pickle --json"),
    "serve": (
        "hubcli serve --port 8080",
        "HF_ENDPOINT=http://localhost:8080 hubcli download org/model",
    ),
    "store": ("hubcli store migrate --from file:///srv/hub --to s3://team-hub/prod",),
    "store migrate": (
        "hubcli store migrate --from file:///srv/hub --to s3://team-hub/prod",
        "hubcli store migrate --from s3://hub/prod --to file:///srv/copy --s3-endpoint "
        "http://minio:9000",
    ),
}


def examples_epilog(path: str) -> str | None:
    """The "Examples:" section for ``path`` (``"cache rm"``), kept line by line in --help."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    # "\b" keeps click from re-flowing the lines into one paragraph.
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def add_examples(app: typer.Typer, prefix: str = "") -> None:
    """Give every command and group registered on ``app`` (recursively) its examples, unless it
    set an ``epilog`` of its own."""
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        if info.epilog is None:
            info.epilog = examples_epilog(f"{prefix}{name}")
    for group in app.registered_groups:
        sub = group.typer_instance
        group_name = group.name or (sub.info.name if sub is not None else None)
        if sub is None or not isinstance(group_name, str):
            continue
        if group.epilog is None or isinstance(group.epilog, DefaultPlaceholder):
            group.epilog = examples_epilog(f"{prefix}{group_name}")
        add_examples(sub, f"{prefix}{group_name} ")
