"""README's "Scripts" CI snippet, run verbatim in bash against the local hub: only the environment
(HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, MODEL_REPO, MODEL_REV, PATH to a `hubcli`) is ours."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Scripts\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)
    assert len(blocks) == 1, "the Scripts section has one ```bash block"
    return blocks[0]


def _run(tmp_path: Path, hub_server: Any, rev: str, repo: str = "alice/ci-model") -> Any:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "hubcli"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hubcli "$@"\n')
    exe.chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
        HF_ENDPOINT=hub_server.url,
        HF_TOKEN=hub_server.alice_token,
        HF_HUB_CACHE=str(tmp_path / "ci-cache"),
        MODEL_REPO=repo,
        MODEL_REV=rev,
    )
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", _snippet()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
    )


def test_readme_keeps_install_and_test_commands_first() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)
    assert blocks.index(_snippet()) >= 2


def test_scripts_snippet_downloads_a_pinned_commit_and_verifies(
    tmp_path: Path, hub_server: Any
) -> None:
    first = hub_server.seed_repo("alice/ci-model", {"config.json": '{"v": 1}', "w.bin": b"1" * 64})
    hub_server.seed_repo("alice/ci-model", {"config.json": '{"v": 2}'})  # main moves on
    res = _run(tmp_path, hub_server, first)
    assert res.returncode == 0, res
    model_dir = res.stdout.strip().splitlines()[-1].removeprefix("model ready in ")
    assert Path(model_dir).name == first
    assert (Path(model_dir) / "config.json").read_text() == '{"v": 1}'


def test_scripts_snippet_fails_with_hubclis_code(tmp_path: Path, hub_server: Any) -> None:
    hub_server.seed_repo("alice/ci-model", {"config.json": "{}"})
    unknown = _run(tmp_path, hub_server, "0" * 40)
    assert unknown.returncode == 4, unknown
    assert unknown.stderr.startswith("error: ") and "model ready" not in unknown.stdout
    missing = _run(tmp_path, hub_server, "main", repo="alice/no-such-model")
    assert missing.returncode == 4, missing
    # A corrupted cache: the verify step stops the job with exit 6.
    good = hub_server.seed_repo("alice/ci-model", {"w.bin": b"2" * 64})
    assert _run(tmp_path, hub_server, good).returncode == 0
    blobs = list((tmp_path / "ci-cache").glob("models--alice--ci-model/blobs/*"))
    for blob in blobs:
        data = bytearray(blob.read_bytes())
        data[0] ^= 0xFF
        blob.write_bytes(bytes(data))
    bad = _run(tmp_path, hub_server, good)
    assert bad.returncode == 6, bad
