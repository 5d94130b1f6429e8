"""`hubcli completion bash|zsh|fish`: the shell completion script, on stdout.

The scripts are Typer's: on <TAB> the shell runs ``hubcli`` again with ``_HUBCLI_COMPLETE`` set
(``complete_bash``, ``complete_zsh``, ``complete_fish``) and the words so far, and Typer answers
from the command tree. Nothing here runs on a normal start: the completion classes are registered
only when ``_HUBCLI_COMPLETE`` is set (see :func:`register`).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated

import typer

COMPLETE_VAR = "_HUBCLI_COMPLETE"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[
        Shell, typer.Argument(help="bash, zsh or fish.", metavar="SHELL", show_default=False)
    ],
) -> None:
    """Print the shell completion script for SHELL on stdout.

    Install it: bash: hubcli completion bash >> ~/.bashrc; zsh: hubcli completion zsh >
    "${fpath[1]}/_hubcli"; fish: hubcli completion fish > ~/.config/fish/completions/hubcli.fish
    """
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="hubcli", complete_var=COMPLETE_VAR, shell=shell.value)
    sys.stdout.write(script + "\n")
    sys.stdout.flush()


def _prepare_completion_request() -> None:
    """When the shell asks for completions, register Typer's shell classes (their scripts and
    answers go together) and accept Click's spelling of the request too (``bash_complete``, as
    ``hf``'s and other Click programs' scripts send, next to Typer's ``complete_bash``)."""
    instruction = os.environ.get(COMPLETE_VAR, "")
    if not instruction:
        return
    from typer._completion_classes import completion_init

    completion_init()
    first, _, second = instruction.partition("_")
    if first in Shell.__members__ and second in ("complete", "source"):
        os.environ[COMPLETE_VAR] = f"{second}_{first}"


def register(app: typer.Typer) -> None:
    _prepare_completion_request()
    app.command("completion")(completion)
