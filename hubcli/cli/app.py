"""The Typer application, global flags, and the one place exceptions become exit codes."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import sys
import traceback
from typing import Annotated, Any, NoReturn

import typer

from hubcli import __version__
from hubcli.cli.common import add_examples, examples_epilog, make_typer
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
    "preview": "hubcli.cli.preview",
    "download": "hubcli.cli.download",
    "upload": "hubcli.cli.upload",
    "repo": "hubcli.cli.repo",
    "cache": "hubcli.cli.cache",
    "serve": "hubcli.cli.serve",
    "store": "hubcli.cli.store",
    "completion": "hubcli.cli.completion",
    "add": "hubcli.cli.lock",
    "remove": "hubcli.cli.lock",
    "lock": "hubcli.cli.lock",
    "outdated": "hubcli.cli.lock",
    "sync": "hubcli.cli.sync",
}
# Global options that take a value (so the command name is not mistaken for one).
_VALUE_OPTIONS = frozenset({"--endpoint", "--token", "--cache-dir", "--color"})
# Global settings: accepted anywhere; after the command they move before it unless the command
# has an option of that name itself (``download --cache-dir``, ``serve --token``, ``auth login
# --token``), which then keeps its own meaning (merged through ``AppState.with_flags``).
_GLOBAL_SETTINGS: dict[str, bool] = {  # option -> takes a value
    "--endpoint": True,
    "--token": True,
    "--cache-dir": True,
    "--color": True,
    "--offline": False,
    "--debug": False,
}
# Output flags: every command that prints a result has its own; given before the command they
# move to it.
_OUTPUT_FLAGS = frozenset({"--json", "--quiet", "-q"})


# The state the global flags resolved to, for the error handler (suggestions need a session).
_ROOT_STATE: list[AppState | None] = [None]


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
    ctx.obj = _ROOT_STATE[0] = AppState.from_flags(
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


def _option_arity(cmd: Any) -> dict[str, bool]:
    """Each option name of a click command -> whether it takes a value."""
    arity: dict[str, bool] = {}
    for param in getattr(cmd, "params", ()):
        if getattr(param, "param_type_name", "") != "option":
            continue
        takes = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for name in (*param.opts, *param.secondary_opts):
            arity[name] = takes
    return arity


def normalize_args(root: Any, args: list[str]) -> list[str]:
    """Put global options where click expects them, so they work before or after the command.

    Settings (``--token X``, ``--endpoint=URL``, ``--offline``, ...) given after a (sub)command
    that has no option of that name move before the command name; ``--json``/``-q`` given before
    the command move after it. Option values and everything after ``--`` are left alone.
    A flag the command does not have is a usage error naming the command.
    """
    front: list[str] = []
    out: list[str] = []
    carried: list[str] = []
    cmd = root
    path: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg.startswith("-") and arg != "-":
            name, eq, _ = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            arity = _option_arity(cmd)
            if name not in arity and cmd is not root and name in _GLOBAL_SETTINGS:
                if _GLOBAL_SETTINGS[name] and not eq:
                    if i + 1 >= len(args):  # no value: let click say so
                        out.append(arg)
                        break
                    front += [arg, args[i + 1]]
                    i += 2
                else:
                    front.append(arg)
                    i += 1
                continue
            if name not in arity and name in _OUTPUT_FLAGS and hasattr(cmd, "commands"):
                carried.append(arg)
                i += 1
                continue
            out.append(arg)
            if arity.get(name) and not eq and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
            i += 1
            continue
        out.append(arg)
        i += 1
        if not hasattr(cmd, "commands"):
            continue
        sub = cmd.commands.get(arg)
        if sub is None:  # an unknown command: click reports it
            out.extend(args[i:])
            break
        cmd = sub
        path.append(arg)
        if carried and not hasattr(cmd, "commands"):
            missing = [f for f in carried if f not in _option_arity(cmd)]
            if missing:
                from hubcli.errors import UsageError

                raise UsageError(f"'hubcli {' '.join(path)}' has no {missing[0]} option.")
            out.extend(carried)
            carried = []
    return front + carried + out


def build_app(args: list[str] | None = None) -> typer.Typer:
    """The Typer app with the commands ``args`` needs: only the invoked command's module when it
    is known (building every command's parameters costs ~90 ms per run), else all of them."""
    app = make_typer(
        name="hubcli",
        help="A fast, safe client and cache manager for the Hugging Face Hub.",
        epilog=examples_epilog(""),
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
    add_examples(app)
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


def _suggest_repos(exc: BaseException) -> None:
    """For an anonymous 401 on a repo (unknown, or private): put close matches found with one
    search request in front of the hint; never offline, and a failing search changes nothing."""
    from hubcli.http.status import RepoHiddenError

    state = _ROOT_STATE[0]
    if not isinstance(exc, RepoHiddenError) or exc.repo is None or state is None:
        return
    if state.settings.offline:
        return
    from hubcli.discover import close_matches
    from hubcli.errors import HubError

    repo_type, repo_id = exc.repo
    try:
        found = close_matches(state.hub.session, repo_type, repo_id)
    except (HubError, OSError):
        return
    if found:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        names = " or ".join(prefix + f for f in found)
        mark = "not found (or private)"
        exc.message = exc.message.replace(mark, f"{mark}; did you mean {names}?", 1)


def _report_usage(exc: Exception, *, json_errors: bool) -> None:
    """A bad command line as one ``error:`` line (click's own are four, starting ``Usage:``)."""
    from hubcli.errors import UsageError

    fmt = getattr(exc, "format_message", None)
    message = fmt() if fmt is not None else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = None
    if ctx is not None and getattr(ctx, "command_path", None):
        hint = f"(see '{ctx.command_path} --help')"
        message = f"{ctx.command_path}: {message}"
    err = UsageError(" ".join(message.split()) or "bad command line", hint=hint)
    _report(err, code=2, json_errors=json_errors, kind="usage")


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
        args = normalize_args(command, args)
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
        if type(exc).__name__ == "NoArgsIsHelpError" and not json_errors:
            exc.show()  # type: ignore[attr-defined]  # a group without its command: its help
        else:
            _report_usage(exc, json_errors=json_errors)
        sys.exit(2)
    except HubError as exc:
        if debug:
            traceback.print_exc(file=sys.stderr)
        _suggest_repos(exc)
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
    except OSError as exc:
        if getattr(exc, "filename", None) is None:
            _report_bug(exc, debug=debug, json_errors=json_errors)
        from hubcli.errors import LocalFileError

        err = LocalFileError(f"{exc.filename}: {exc.strerror or exc}.")
        if debug:
            traceback.print_exc(file=sys.stderr)
        _report(err, code=err.exit_code, json_errors=json_errors, kind=err.code)
        sys.exit(err.exit_code)
    except Exception as exc:
        _report_bug(exc, debug=debug, json_errors=json_errors)
    sys.exit(0)


def run() -> NoReturn:
    """The console script and ``python -m hubcli``: :func:`main`, then a quick exit.

    Tearing the interpreter down (clearing every module's objects) costs 25-30 ms on this
    machine, about a tenth of a small upload. When the command is done and no other non-daemon
    thread runs, that work serves nothing: the exit handlers run (``atexit``, which includes
    ``logging.shutdown`` and pending ``weakref.finalize`` calls), the standard streams are flushed
    and the process ends with the command's code. Anything unusual takes the normal exit."""
    try:
        main()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    _quick_exit(code)


def _quick_exit(code: str | int | None) -> NoReturn:
    import threading

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if not isinstance(code, int) or any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nobody to tell
            stream.flush()
    os._exit(code)


def _report_bug(exc: BaseException, *, debug: bool, json_errors: bool) -> NoReturn:
    """An exception nobody turned into a HubError: a bug, exit 1."""
    if debug:
        traceback.print_exc(file=sys.stderr)
    _report(exc, code=1, json_errors=json_errors, kind="internal")
    sys.stderr.write("(this is a bug in hubcli; rerun with --debug for the traceback)\n")
    sys.exit(1)
