"""The CLI start path stays light: `hubcli --help` imports no requests, rich or server."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("requests", "rich", "rich.markdown", "hubcli.server", "huggingface_hub", "yaml", "tqdm")


def test_help_path_imports_no_heavy_modules() -> None:
    code = (
        "import sys, json\n"
        "from hubcli.cli import app as a\n"
        "cmd = a.typer.main.get_command(a.build_app(['--help']))\n"
        "try:\n"
        "    cmd.main(args=['--help'], prog_name='hubcli', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(proc.stderr))
    assert "Usage: hubcli" in proc.stdout
    assert not (loaded & set(HEAVY)), sorted(loaded & set(HEAVY))


def test_every_registered_command_is_routed() -> None:
    """Lazy registration: every command the modules define must be in COMMANDS (and vice versa)."""
    import typer

    from hubcli.cli.app import COMMANDS, build_app, command_name

    group = typer.main.get_command(build_app())
    assert set(group.commands) == set(COMMANDS)  # type: ignore[attr-defined]
    assert command_name(["--endpoint", "http://x", "--offline", "download", "a/b"]) == "download"
    assert command_name(["--color", "never", "cache", "ls"]) == "cache"
    assert command_name(["--help"]) is None
