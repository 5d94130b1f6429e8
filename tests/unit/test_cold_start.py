"""The CLI start path stays light: `hubcli --help` imports no requests, rich or server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_cached_commit_download_imports_no_http_stack(hub_server: Any, tmp_path: Path) -> None:
    """A fully cached commit costs no request, so it must not pay for importing requests."""
    commit = hub_server.seed_repo("alice/cold", {"config.json": "{}"})
    env = dict(os.environ, HF_ENDPOINT=hub_server.url, HF_HUB_CACHE=str(tmp_path / "c"))
    first = subprocess.run(
        [sys.executable, "-m", "hubcli", "download", "alice/cold", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('HEAVY', sorted(m for m in ('requests', 'urllib3',"
        " 'hubcli.http', 'rich') if m in sys.modules), file=sys.stderr))\n"
        "from hubcli.cli.app import main\n"
        f"sys.argv = ['hubcli', 'download', 'alice/cold', '--revision', '{commit}', '-q']\n"
        "main()\n"
    )
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "HEAVY []" in again.stderr, again.stderr
