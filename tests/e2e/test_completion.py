"""`hubcli completion bash|zsh|fish`: the scripts, and what <TAB> answers through them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _complete(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubcli"],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_the_script(run_cli: Any, shell: str) -> None:
    res = run_cli("completion", shell)
    assert res.returncode == 0, res
    assert "_HUBCLI_COMPLETE=complete_" + shell in res.stdout
    assert "hubcli" in res.stdout and res.stderr == ""


def test_unknown_shell_is_a_usage_error(run_cli: Any) -> None:
    res = run_cli("completion", "tcsh")
    assert res.returncode == 2, res
    assert res.stderr.startswith("error: ") and len(res.stderr.splitlines()) == 1


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_script_completes_commands(run_cli: Any, tmp_path: Path) -> None:
    """Source the printed script in a real bash and call its completion function, as <TAB> does."""
    script = run_cli("completion", "bash").stdout
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "hubcli"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hubcli "$@"\n')
    exe.chmod(0o755)
    (tmp_path / "hubcli.bash").write_text(script)
    driver = (
        'source "$1"\n'
        "COMP_WORDS=(hubcli dow); COMP_CWORD=1; _hubcli_completion hubcli\n"
        'echo "1:${COMPREPLY[*]}"\n'
        "COMP_WORDS=(hubcli cache v); COMP_CWORD=2; _hubcli_completion hubcli\n"
        'echo "2:${COMPREPLY[*]}"\n'
        "COMP_WORDS=(hubcli auth sw); COMP_CWORD=2; _hubcli_completion hubcli\n"
        'echo "3:${COMPREPLY[*]}"\n'
    )
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    res = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", driver, "drv", str(tmp_path / "hubcli.bash")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res
    assert res.stdout.splitlines() == ["1:download", "2:verify", "3:switch"], res


def test_click_and_typer_protocols_answer() -> None:
    """Click's own spelling (``bash_complete`` with COMP_WORDS/COMP_CWORD) works as well."""
    for instruction in ("bash_complete", "complete_bash"):
        res = _complete(
            {"_HUBCLI_COMPLETE": instruction, "COMP_WORDS": "hubcli dow", "COMP_CWORD": "1"}
        )
        assert res.returncode == 0 and res.stdout.split() == ["download"], (instruction, res)
        res = _complete(
            {"_HUBCLI_COMPLETE": instruction, "COMP_WORDS": "hubcli cache v", "COMP_CWORD": "2"}
        )
        assert res.returncode == 0 and res.stdout.split() == ["verify"], (instruction, res)


def test_zsh_and_fish_protocols_answer() -> None:
    zsh = _complete({"_HUBCLI_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "hubcli cache v"})
    assert zsh.returncode == 0 and '"verify"' in zsh.stdout, zsh
    fish = _complete(
        {
            "_HUBCLI_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
            "_TYPER_COMPLETE_ARGS": "hubcli dow",
        }
    )
    assert fish.returncode == 0 and fish.stdout.split("\t")[0] == "download", fish
