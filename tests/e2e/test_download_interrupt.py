"""Ctrl-C, --debug and process-unique partial files, through the real CLI against the local hub."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_download import env_for


def _start(hub: Any, cache: Path, **extra_env: str) -> subprocess.Popen[str]:
    env = dict(os.environ, **env_for(hub, cache), **extra_env)
    return subprocess.Popen(
        [sys.executable, "-m", "hubcli", "download", "alice/m"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_bytes(blobs: Path, minimum: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        parts = list(blobs.glob("*.incomplete")) if blobs.is_dir() else []
        if any(p.stat().st_size >= minimum for p in parts if p.is_file()):
            return
        time.sleep(0.05)
    raise AssertionError("the download never started writing")


@pytest.mark.parametrize("partials", ["shared", "unique"])
def test_ctrl_c_prints_one_line_and_exits_130(
    hub_server_factory: Any, tmp_path: Path, partials: str
) -> None:
    hub = hub_server_factory(bandwidth_mbps=1)
    big = os.urandom(3 * 1024 * 1024)
    hub.seed_repo("alice/m", {"w.bin": big})
    cache = tmp_path / "c"
    blobs = cache / "models--alice--m" / "blobs"
    proc = _start(hub, cache, HUBCLI_PARTIALS=partials)
    _wait_for_bytes(blobs, 256 * 1024)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: download of alice/m interrupted"), err
    assert "Rerun" in lines[0] and "Traceback" not in err and out == ""
    snapshot = [p for p in (cache / "models--alice--m" / "snapshots").rglob("*") if p.is_file()]
    assert snapshot == []  # nothing half-written is visible
    sha = hashlib.sha256(big).hexdigest()
    if partials == "shared":
        assert "resumes" in lines[0]
        assert (blobs / f"{sha}.incomplete").stat().st_size > 0
    else:
        assert "start again" in lines[0]
        assert list(blobs.glob("*.incomplete")) == []  # a per-process partial is not left behind


def test_unique_partials_download_and_verify(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    hub_server.seed_repo("alice/m", {"w.bin": data, "a.txt": b"hello\n"})
    cache = tmp_path / "c"
    env = {**env_for(hub_server, cache), "HUBCLI_PARTIALS": "unique"}
    procs = [_start(hub_server, cache, HUBCLI_PARTIALS="unique") for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    res = run_cli("cache", "verify", "alice/m", env=env)
    assert res.returncode == 0, res
    blobs = cache / "models--alice--m" / "blobs"
    assert sorted(p.name for p in blobs.iterdir()) == sorted(
        [hashlib.sha256(data).hexdigest(), hashlib.sha1(b"blob 6\0hello\n").hexdigest()]
    )


def test_bad_partials_setting_is_a_usage_error(run_cli: Any, tmp_path: Path) -> None:
    res = run_cli("download", "alice/m", env={"HUBCLI_PARTIALS": "sometimes"})
    assert res.returncode == 2 and res.stderr.startswith("error: HUBCLI_PARTIALS"), res


def test_debug_keeps_the_exit_code(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    env = env_for(hub_server, tmp_path / "c")
    for flag_env in ({"HUBCLI_DEBUG": "1"}, {}):
        args = ([] if flag_env else ["--debug"]) + ["download", "alice/does-not-exist"]
        res = run_cli(*args, env={**env, "HF_TOKEN": hub_server.alice_token, **flag_env})
        assert res.returncode == 4, res
        assert "Traceback" in res.stderr and "error: " in res.stderr


def test_link_planted_at_a_partial_is_never_followed(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    data = os.urandom(100_000)
    hub_server.seed_repo("alice/m", {"w.bin": data})
    cache = tmp_path / "c"
    blobs = cache / "models--alice--m" / "blobs"
    blobs.mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    (blobs / f"{hashlib.sha256(data).hexdigest()}.incomplete").symlink_to(outside)
    res = run_cli("download", "alice/m", env=env_for(hub_server, cache))
    assert res.returncode == 6, res
    assert "symbolic link" in res.stderr and res.stderr.count("\n") == 1
    assert outside.read_bytes() == b"keep me"
