"""The Typer application, global flags, and the one place exceptions become exit codes."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import traceback
from typing import Annotated

import typer

from hubcli import __version__
from hubcli.cli.common import make_typer
from hubcli.cli.context import AppState

# Which module registers each top-level command (each module exposes ``register(app)``). Keep
# their top-level imports light: heavy modules are imported inside the command functions.
COMMANDS: dict[str, str] = {
    "env": "hubcli.cli.env",
    "auth": "hubcli.cli.auth",
    "search": "hubcli.cli.discover",
    "info": "hubcli.cli.discover",
    "files": "hubcli.cli.discover",
    "ls": "hubcli.cli.discover",
    "card": "hubcli.cli.discover",
    "download": "hubcli.cli.download",
    "upload": "hubcli.cli.upload",
    "repo": "hubcli.cli.repo",
    "cache": "hubcli.cli.cache",
    "serve": "hubcli.cli.serve",
}
# Global options that take a value (so the command name is not mistaken for one).
_VALUE_OPTIONS = frozenset({"--endpoint", "--token", "--cache-dir", "--color"})


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"hubcli {__version__}\n")
        raise typer.Exit(0)


def _global(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", help="Hub URL (default: HF_ENDPOINT or huggingface.co)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Access token (default: HF_TOKEN or the token file)."),
    ] = None,
    cache_dir: Annotated[
        str | None, typer.Option("--cache-dir", help="Cache folder (default: HF_HUB_CACHE).")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never touch the network (like HF_HUB_OFFLINE=1).")
    ] = False,
    color: Annotated[str, typer.Option("--color", help="Colours: auto, always or never.")] = "auto",
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    if color not in ("auto", "always", "never"):
        raise typer.BadParameter("use auto, always or never", param_hint="--color")
    ctx.obj = AppState.from_flags(
        endpoint=endpoint,
        token=token,
        cache_dir=cache_dir,
        offline=offline or None,
        debug=debug or None,
        color=color,
    )


def command_name(args: list[str]) -> str | None:
    """The top-level command in ``args`` (skipping global options and their values), if any."""
    it = iter(args)
    for arg in it:
        if arg == "--":
            return None
        if arg in _VALUE_OPTIONS:
            next(it, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build_app(args: list[str] | None = None) -> typer.Typer:
    """The Typer app with the commands ``args`` needs: only the invoked command's module when it
    is known (building every command's parameters costs ~90 ms per run), else all of them."""
    app = make_typer(
        name="hubcli",
        help="A fast, safe client and cache manager for the Hugging Face Hub.",
    )
    app.callback()(_global)
    name = command_name(args) if args is not None else None
    if name in COMMANDS:
        modules = [COMMANDS[name]]
    elif name is None and args is not None and "--version" in args:
        modules = []  # answered by the eager --version callback
    else:
        modules = list(dict.fromkeys(COMMANDS.values()))
    for module in modules:
        importlib.import_module(module).register(app)
    return app


def _report(exc: BaseException, *, code: int, json_errors: bool, kind: str) -> None:
    from hubcli.errors import HubError

    message = str(exc) or exc.__class__.__name__
    hint = exc.hint if isinstance(exc, HubError) else None
    if json_errors:
        err = {"error": {"code": kind, "message": message, "exit_code": code}}
        if hint:
            err["error"]["hint"] = hint
        sys.stderr.write(json.dumps(err) + "\n")
    else:
        line = f"error: {message}"
        if hint:
            line += f" {hint}"
        sys.stderr.write(line.replace("\n", " ") + "\n")
    sys.stderr.flush()


def _report_interrupt(args: list[str], json_errors: bool) -> None:
    """One line for a Ctrl-C that no engine turned into an Interrupted error of its own."""
    from hubcli.errors import Interrupted

    words = [a for a in args if not a.startswith("-")][:2]
    what = "hubcli " + " ".join(words) if words else "hubcli"
    exc = Interrupted(
        f"{what} interrupted; nothing half-written is visible.",
        hint="Rerun the same command: finished work is kept and partial downloads resume.",
    )
    _report(exc, code=exc.exit_code, json_errors=json_errors, kind=exc.code)


def _usage_error_base() -> type[Exception]:
    """The class Typer raises for bad command lines (click's ``ClickException``, vendored inside
    typer since 0.28, click's own before), found through the public ``typer.BadParameter``."""
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and exit with the documented code; no tracebacks unless --debug."""
    usage_error = _usage_error_base()
    from hubcli.config import env_flag
    from hubcli.errors import EXIT_INTERRUPTED, HubError

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or env_flag(os.environ.get("HUBCLI_DEBUG"))
    json_errors = "--json" in args
    command = typer.main.get_command(build_app(args))
    try:
        rv = command.main(args=args, prog_name="hubcli", standalone_mode=False)
        if isinstance(rv, int):
            sys.exit(rv)
    except typer.Exit as exc:
        if exc.exit_code == EXIT_INTERRUPTED and isinstance(exc.__cause__, KeyboardInterrupt):
            _report_interrupt(args, json_errors)  # typer turns Ctrl-C into a silent Exit(130)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("error: aborted.\n")
        sys.exit(EXIT_INTERRUPTED)
    except usage_error as exc:
        show = getattr(exc, "show", None)  # click's own "Error: ..." lines, with the usage
        if json_errors or show is None:
            _report(exc, code=2, json_errors=json_errors, kind="usage")
        else:
            show()
        sys.exit(2)
    except HubError as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        _report(exc, code=exc.exit_code, json_errors=json_errors, kind=exc.code)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _report_interrupt(args, json_errors)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # stdout closed by a pager or `head`: not an error worth a traceback.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        sys.exit(0)
    except Exception as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        _report(
            exc,
            code=1,
            json_errors=json_errors,
            kind="internal",
        )
        sys.stderr.write("(this is a bug in hubcli; rerun with --debug for the traceback)\n")
        sys.exit(1)
    sys.exit(0)
