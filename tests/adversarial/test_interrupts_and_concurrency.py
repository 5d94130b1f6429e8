"""Downloads that are interrupted (Ctrl-C, kill -9) or run 8 at a time into one cache.

Complements tests/e2e/test_download_faults.py (which has two concurrent processes and kill -9 into
the cache): here 8 processes share a cache and huggingface_hub must read the result offline,
kill -9 is also exercised for --local-dir, and Ctrl-C must exit 130 with one ``error:`` line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.hub import hf_environment, run_hf

BIG = os.urandom(4 * 1024 * 1024)


def _env(hub: Any, cache: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(cache), **extra)


def _wait_for_partial(pattern_root: Path, glob: str, at_least: int, proc: Any) -> Path:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for p in pattern_root.glob(glob) if pattern_root.exists() else []:
            try:
                if p.stat().st_size >= at_least:
                    return p
            except FileNotFoundError:
                pass
        if proc.poll() is not None:
            raise AssertionError(f"download ended (rc={proc.returncode}) before it was interrupted")
        time.sleep(0.02)
    raise AssertionError(f"no partial file of {at_least} bytes under {pattern_root}")


def _partial_glob(target: str) -> tuple[str, str]:
    if target == "cache":
        return "c", "models--alice--m/blobs/*.incomplete"
    return "out", ".cache/huggingface/download/**/*.incomplete"


def test_eight_concurrent_downloads_share_one_cache(
    hub_server_factory: Any, tmp_path: Path
) -> None:
    hub = hub_server_factory(bandwidth_mbps=16)
    files = {
        "config.json": b'{"model_type": "bert"}\n',
        "tok/vocab.txt": b"".join(b"w%05d\n" % i for i in range(5000)),
        "model.safetensors": os.urandom(3 * 1024 * 1024),
        "extra.safetensors": os.urandom(1024 * 1024),
    }
    commit = hub.seed_repo("alice/m", files)
    cache = tmp_path / "c"
    cmd = [sys.executable, "-m", "hubcli", "download", "alice/m", "-q"]
    procs = [
        subprocess.Popen(
            cmd, env=_env(hub, cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    rcs = [p.returncode for p in procs]
    assert rcs == [0] * 8, [
        (rc, err.decode()[-300:]) for rc, (_, err) in zip(rcs, outs, strict=True)
    ]
    paths = {out.decode().strip().splitlines()[-1] for out, _ in outs}
    assert len(paths) == 1, paths
    repo = cache / "models--alice--m"
    snap = repo / "snapshots" / commit
    assert Path(paths.pop()) == snap
    for rel, data in files.items():
        assert (snap / rel).read_bytes() == data, rel
    assert not list(repo.glob("blobs/*.incomplete"))
    # Each LFS blob crossed the network once: the others waited on the lock and found it.
    cdn_gets = [r for r in hub.requests() if r["origin"] == "cdn" and r["method"] == "GET"]
    assert len(cdn_gets) == 2, [r["path"] for r in cdn_gets]

    verify = subprocess.run(
        [sys.executable, "-m", "hubcli", "cache", "verify", "--cache-dir", str(cache)],
        env=_env(hub, cache),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert verify.returncode == 0, verify

    env = hf_environment(hub.url, tmp_path / "hf_home")
    env.update({"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"})
    proc = run_hf(
        """
        import json, os
        from huggingface_hub import snapshot_download
        p = snapshot_download("alice/m")
        out = {}
        for root, _, names in os.walk(p):
            for n in names:
                full = os.path.join(root, n)
                out[os.path.relpath(full, p)] = open(full, "rb").read().hex()
        print(json.dumps(out))
        """,
        env,
    )
    got = json.loads(proc.stdout.splitlines()[-1])
    assert {k: bytes.fromhex(v) for k, v in got.items()} == files


def test_kill_9_local_dir_then_rerun_is_byte_identical(
    hub_server_factory: Any, run_cli: Any, tmp_path: Path
) -> None:
    """The --local-dir counterpart of test_download_faults.py::test_kill_9_then_rerun_resumes."""
    hub = hub_server_factory(bandwidth_mbps=1)
    hub.seed_repo("alice/m", {"w.bin": BIG, "a.txt": b"a\n"})
    out, cache = tmp_path / "out", tmp_path / "c"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubcli", "download", "alice/m", "--local-dir", str(out), "-q"],
        env=_env(hub, cache),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        partial = _wait_for_partial(
            out, ".cache/huggingface/download/**/*.incomplete", 1 << 20, proc
        )
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    have = partial.stat().st_size
    assert 0 < have < len(BIG)
    assert not (out / "w.bin").exists(), "a partial file became visible in the local dir"
    hub.set_knobs(bandwidth_mbps=0)
    res = run_cli(
        "download",
        "alice/m",
        "--local-dir",
        str(out),
        "--json",
        env={"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache)},
        timeout=60,
    )
    assert res.returncode == 0, res
    assert (out / "w.bin").read_bytes() == BIG
    doc = json.loads(res.stdout)
    w = next(f for f in doc["files"] if f["path"] == "w.bin")
    assert w["resumed_bytes"] >= have, w
    assert not list(out.glob(".cache/huggingface/download/**/*.incomplete"))


@pytest.mark.parametrize("target", ["cache", "local-dir"])
def test_ctrl_c_exits_130_with_one_error_line_and_rerun_resumes(
    hub_server_factory: Any, run_cli: Any, tmp_path: Path, target: str
) -> None:
    hub = hub_server_factory(bandwidth_mbps=1)
    hub.seed_repo("alice/m", {"w.bin": BIG})
    cache, out = tmp_path / "c", tmp_path / "out"
    extra = ["--local-dir", str(out)] if target == "local-dir" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubcli", "download", "alice/m", *extra],
        env=_env(hub, cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    root, glob = _partial_glob(target)
    try:
        _wait_for_partial(tmp_path / root, glob, 512 * 1024, proc)
        os.kill(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - t0 < 5, "Ctrl-C took more than 5 s to end the download"
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, f"want exactly one 'error:' line on stderr, got: {stderr!r}"
    line = errors[0].lower()
    assert "interrupt" in line, line
    assert "alice/m" in line, f"the error line does not say what was interrupted: {line}"
    assert "rerun" in line and "resum" in line, (
        f"the error line does not say a rerun resumes: {line}"
    )
    partials = list((tmp_path / root).glob(glob))
    assert partials, "Ctrl-C deleted the partial file: nothing to resume"

    res = run_cli(
        "download",
        "alice/m",
        *extra,
        "--json",
        env={"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache)},
        timeout=60,
    )
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    f = doc["files"][0]
    assert f["resumed_bytes"] > 0, f
    placed = Path(doc["path"]) / "w.bin"
    assert placed.read_bytes() == BIG
