"""`hubcli auth` against the local hub, and the token file shared with huggingface_hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _token_path() -> Path:
    return Path(os.environ["HF_HOME"]) / "token"


def test_login_verifies_and_writes_0600_token_file(run_cli: Any, hub_server: Any) -> None:
    res = run_cli("--endpoint", hub_server.url, "auth", "login", "--token", hub_server.alice_token)
    assert res.returncode == 0, res
    path = _token_path()
    assert path.read_text() == hub_server.alice_token
    assert (path.stat().st_mode & 0o777) == 0o600
    assert hub_server.alice_token not in res.stdout + res.stderr
    assert "alice" in res.stderr

    who = run_cli("--endpoint", hub_server.url, "auth", "whoami")
    assert who.returncode == 0 and who.stdout.strip() == "alice"
    data = json.loads(run_cli("--endpoint", hub_server.url, "auth", "whoami", "--json").stdout)
    assert data["user"] == "alice" and data["token_source"].startswith("file:")
    assert data["endpoint"] == hub_server.url and data["schema_version"] == 1


def test_huggingface_hub_reads_the_token_we_wrote(run_cli: Any, hub_server: Any) -> None:
    run_cli("--endpoint", hub_server.url, "auth", "login", "--token", hub_server.bob_token)
    env = dict(os.environ, HF_ENDPOINT=hub_server.url)
    code = "from huggingface_hub import HfApi; print(HfApi().whoami()['name'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "bob"


def test_login_from_stdin(run_cli: Any, hub_server: Any) -> None:
    res = run_cli("--endpoint", hub_server.url, "auth", "login", input=hub_server.bob_token + "\n")
    assert res.returncode == 0, res
    assert _token_path().read_text() == hub_server.bob_token


def test_invalid_token_is_refused_and_not_saved(run_cli: Any, hub_server: Any) -> None:
    res = run_cli("--endpoint", hub_server.url, "auth", "login", "--token", "hf_wrong_token_0000")
    assert res.returncode == 3, res
    assert not _token_path().exists()
    assert "hf_wrong_token_0000" not in res.stderr


def test_no_verify_skips_the_network(run_cli: Any) -> None:
    res = run_cli(
        "--endpoint",
        "http://127.0.0.1:9",
        "auth",
        "login",
        "--token",
        "hf_offline_tok",
        "--no-verify",
    )
    assert res.returncode == 0
    assert _token_path().read_text() == "hf_offline_tok"


def test_logout_removes_token(run_cli: Any, hub_server: Any) -> None:
    run_cli("--endpoint", hub_server.url, "auth", "login", "--token", hub_server.alice_token)
    res = run_cli("auth", "logout")
    assert res.returncode == 0
    assert not _token_path().exists()
    again = run_cli("--endpoint", hub_server.url, "auth", "whoami")
    assert again.returncode == 3 and "auth login" in again.stderr
