"""Generate ``docs/cli.md`` from the commands' own ``--help`` (so the reference cannot drift).

``python -m hubcli.cli.docgen > docs/cli.md``; a test checks the checked-in file is current.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import typer
from typer.testing import CliRunner

from hubcli.cli.app import build_app

WIDTH = 100
_ENV = {"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"}


def _paths(cmd: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path below ``cmd`` (a click-style command or group), in listing order."""
    yield prefix
    commands: dict[str, Any] = getattr(cmd, "commands", None) or {}
    for name, sub in commands.items():
        if not getattr(sub, "hidden", False):
            yield from _paths(sub, (*prefix, name))


def render_cli_docs() -> str:
    """The whole reference: every command's --help, in command order, as Markdown."""
    app: typer.Typer = build_app(None)
    root = typer.main.get_command(app)
    runner = CliRunner()
    out = [
        "# Command reference",
        "",
        "Generated from `--help` by `python -m hubcli.cli.docgen > docs/cli.md`;",
        "do not edit by hand (a test fails when it is stale).",
        "",
    ]
    with mock.patch.dict(os.environ, _ENV):
        for path in _paths(root):
            result = runner.invoke(app, [*path, "--help"], prog_name="hubcli")
            if result.exit_code != 0:
                raise RuntimeError(f"hubcli {' '.join(path)} --help failed: {result.output}")
            text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
            out += [f"## `{' '.join(('hubcli', *path))}`", ""]
            out += ["```text", text, "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_cli_docs())
