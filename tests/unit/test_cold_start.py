"""The CLI start path stays light: `hubcli --help` imports no requests, rich or server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hubcli import __version__

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


def _py(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "c"))
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_quick_exit_flushes_output_runs_exit_handlers_and_keeps_the_code(tmp_path: Path) -> None:
    """``run()`` ends the process with ``os._exit`` (no interpreter teardown): what was printed
    to a pipe still arrives, ``atexit`` handlers still run, and the exit code is the command's."""
    marker = tmp_path / "atexit-ran"
    code = (
        "import atexit, pathlib, sys\n"
        f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('yes'))\n"
        "from hubcli.cli.app import run\n"
        "sys.argv = ['hubcli'] + sys.argv[1:]\n"
        "print('x' * 100000, end='')\n"  # more than one pipe buffer, still in sys.stdout's buffer
        "run()\n"
    )
    ok = _py(code.replace("sys.argv[1:]", "['--version']"), tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("x" * 100000) and ok.stdout.rstrip().endswith(__version__)
    assert marker.read_text() == "yes"
    marker.unlink()
    bad = _py(code.replace("sys.argv[1:]", "['download', 'not a repo!']"), tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert marker.read_text() == "yes"


def test_quick_exit_waits_for_a_running_non_daemon_thread(tmp_path: Path) -> None:
    """A non-daemon thread still working at the end: the normal exit, which waits for it."""
    done = tmp_path / "thread-done"
    code = (
        "import pathlib, threading, time\n"
        "from hubcli.cli.app import _quick_exit\n"
        "def work():\n"
        "    time.sleep(0.3)\n"
        f"    pathlib.Path({str(done)!r}).write_text('done')\n"
        "threading.Thread(target=work).start()\n"
        "_quick_exit(3)\n"
    )
    r = _py(code, tmp_path)
    assert r.returncode == 3, r.stderr
    assert done.read_text() == "done"
