"""The CLI shell: version, help, env, usage errors and exit codes, through the real entry point."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hubcli

SECRET = "hf_supersecretvalue98765"


def test_version_and_help(run_cli: Any) -> None:
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"hubcli {hubcli.__version__}"
    res = run_cli("--help")
    assert res.returncode == 0
    for cmd in ("env", "auth"):
        assert cmd in res.stdout


def test_unknown_command_is_usage_error(run_cli: Any) -> None:
    res = run_cli("no-such-command")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "No such command" in res.stderr


def test_env_never_prints_the_token(run_cli: Any, tmp_path: Path) -> None:
    res = run_cli("env", env={"HF_TOKEN": SECRET, "HF_ENDPOINT": "http://127.0.0.1:9/"})
    assert res.returncode == 0
    assert SECRET not in res.stdout + res.stderr
    assert "hf_****8765" in res.stdout
    assert "http://127.0.0.1:9\n" in res.stdout + "\n"
    res = run_cli("env", "--json", env={"HF_TOKEN": SECRET})
    data = json.loads(res.stdout)
    assert SECRET not in res.stdout
    assert data["token"] == "hf_****8765" and data["token_source"] == "env:HF_TOKEN"


def test_env_reports_flag_over_env(run_cli: Any, tmp_path: Path) -> None:
    res = run_cli(
        "--cache-dir",
        str(tmp_path / "c"),
        "--offline",
        "env",
        "--json",
        env={"HF_HUB_CACHE": str(tmp_path / "other"), "HF_HUB_OFFLINE": "0"},
    )
    data = json.loads(res.stdout)
    assert data["cache_dir"] == str(tmp_path / "c") and data["cache_dir_source"] == "flag"
    assert data["offline"] is True


def test_bad_color_value_is_usage_error(run_cli: Any) -> None:
    res = run_cli("--color", "purple", "env")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_server_down_exits_5_within_bounded_time(run_cli: Any) -> None:
    start = time.monotonic()
    res = run_cli("--endpoint", "http://127.0.0.1:9", "--token", SECRET, "auth", "whoami")
    elapsed = time.monotonic() - start
    assert res.returncode == 5, res
    assert elapsed < 30
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert SECRET not in res.stderr


def test_json_mode_errors_are_one_json_line(run_cli: Any) -> None:
    res = run_cli("--endpoint", "http://127.0.0.1:9", "auth", "whoami", "--json")
    assert res.returncode == 3
    err = json.loads(res.stderr)
    assert err["error"]["exit_code"] == 3 and err["error"]["code"] == "token_missing"
    assert res.stdout == ""
