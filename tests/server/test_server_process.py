"""The server as a process: ``python -m hubcli.server`` and ``hubcli serve`` print the URL first,
serve requests, log them, and exit 0 on SIGTERM / SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.fixtures.hub import hf_environment, run_hf


def start(args: list[str], tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first), (
        first,
        proc.stderr.read() if proc.poll() else "",
    )
    return proc, first


@pytest.mark.parametrize(
    ("module", "sig"),
    [(["hubcli.server"], signal.SIGTERM), (["hubcli", "serve"], signal.SIGINT)],
)
def test_server_subprocess(module: list[str], sig: int, tmp_path: Path) -> None:
    root = tmp_path / "root"
    log = tmp_path / "requests.jsonl"
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# comment\nhf_carol carol\n")
    proc, url = start(
        [
            *module,
            "--root", str(root), "--port", "0", "--token", "hf_dave:dave",
            "--token-file", str(tokens), "--log", str(log), "--page-size", "5",
        ],
        tmp_path,
    )  # fmt: skip
    try:
        assert (
            requests.get(
                f"{url}/api/whoami-v2", headers={"Authorization": "Bearer hf_carol"}
            ).json()["name"]
            == "carol"
        )
        auth = {"Authorization": "Bearer hf_dave"}
        r = requests.post(f"{url}/api/repos/create", json={"name": "r"}, headers=auth, timeout=5)
        assert r.status_code == 200 and r.json()["url"] == f"{url}/dave/r"
        assert requests.get(f"{url}/dave/r/resolve/main/.gitattributes").status_code == 200
    finally:
        proc.send_signal(sig)
        rc = proc.wait(timeout=10)
    assert rc == 0
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["status"] for x in lines] == [200, 200, 200]
    assert {"method", "path", "status", "bytes", "range"} <= set(lines[0])
    assert (root / "repos" / "models" / "dave" / "r" / "meta.json").exists()


def test_hf_against_subprocess_with_latency(tmp_path: Path) -> None:
    proc, url = start(
        ["hubcli.server", "--token", "hf_x:alice", "--latency-ms", "20", "--bandwidth", "50"],
        tmp_path,
    )
    try:
        env = hf_environment(url, tmp_path / "hf", token="hf_x")
        code = """
        import time
        from huggingface_hub import HfApi, hf_hub_download
        api = HfApi()
        api.create_repo("alice/lat")
        api.upload_file(path_or_fileobj=b"z" * 2_000_000, path_in_repo="z.bin", repo_id="alice/lat")
        t = time.monotonic()
        p = hf_hub_download("alice/lat", "z.bin")
        print("elapsed", time.monotonic() - t)
        assert open(p, "rb").read() == b"z" * 2_000_000
        """
        out = run_hf(code, env).stdout
        elapsed = float(out.split("elapsed")[1])
        assert elapsed >= 0.04 + 2_000_000 / 50e6 * 0.8  # HEAD + GET latency, throttled body
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    time.sleep(0)
