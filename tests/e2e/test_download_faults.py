"""`hubcli download` under bad input and faults: exit codes, markers, resume, concurrency, kills."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

DATA = os.urandom(200_000)


def env_for(hub: Any, cache: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache), **extra}


def test_unknown_repo_revision_file(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    commit = hub_server.seed_repo("alice/m", {"a.txt": "a"})
    cache = tmp_path / "c"
    env = env_for(hub_server, cache, HF_TOKEN=hub_server.alice_token)
    res = run_cli("download", "alice/nope", env=env)
    assert res.returncode == 4, res
    assert "not found" in res.stderr
    res = run_cli("download", "alice/m", "--revision", "no-such-branch", env=env)
    assert res.returncode == 4, res
    assert "revision" in res.stderr
    res = run_cli("download", "alice/m", "missing.bin", env=env)
    assert res.returncode == 4, res
    assert "missing.bin" in res.stderr
    repo = cache / "models--alice--m"
    assert (repo / ".no_exist" / commit / "missing.bin").is_file()
    assert (repo / "refs" / "main").read_text() == commit
    assert not (repo / "snapshots" / commit / "missing.bin").exists()


def test_private_and_gated_need_access(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    hub_server.seed_repo("alice/secret", {"a.txt": "a"}, private=True)
    hub_server.seed_repo("alice/gated", {"a.txt": "a"}, gated="manual")
    env = env_for(hub_server, tmp_path / "c")
    res = run_cli("download", "alice/secret", env=env)
    assert res.returncode == 3, res
    res = run_cli("download", "alice/gated", env=env)
    assert res.returncode == 3, res
    res = run_cli("download", "alice/gated", env={**env, "HF_TOKEN": hub_server.bob_token})
    assert res.returncode == 3, res
    assert "gated" in res.stderr
    hub_server.grant_access("alice/gated", "bob")
    res = run_cli("download", "alice/gated", env={**env, "HF_TOKEN": hub_server.bob_token})
    assert res.returncode == 0, res


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_exits_5_in_bounded_time(run_cli: Any, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{_dead_port()}", "HF_HUB_CACHE": str(tmp_path / "c")}
    t0 = time.monotonic()
    res = run_cli("download", "alice/m", env=env, timeout=60)
    assert res.returncode == 5, res
    assert time.monotonic() - t0 < 30
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_hash_mismatch_exits_6_and_leaves_nothing(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    good = b"the real content\n" * 100
    hub_server.seed_repo("alice/m", {"model.bin": DATA, "a.txt": good})
    # Make the server lie: same size, different bytes, under the advertised etags.
    for p in (
        hub_server.storage.lfs_path(hashlib.sha256(DATA).hexdigest()),
        hub_server.storage.git_path(hashlib.sha1(b"blob %d\0" % len(good) + good).hexdigest()),
    ):
        os.chmod(p, 0o644)
        p.write_bytes(b"x" * p.stat().st_size)
    cache = tmp_path / "c"
    for name in ("model.bin", "a.txt"):
        res = run_cli("download", "alice/m", name, env=env_for(hub_server, cache))
        assert res.returncode == 6, res
        assert "does not match" in res.stderr
    repo = cache / "models--alice--m"
    assert list((repo / "blobs").glob("*")) == []  # no file came through: no folder either
    assert [p for p in (repo / "snapshots").rglob("*") if p.is_file()] == []


class _HostileHub(BaseHTTPRequestHandler):
    """A fake hub whose listing names files outside the repo."""

    names: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/api/models/evil/repo/revision/"):
            sib = [{"rfilename": n, "size": 1, "blobId": "0" * 40} for n in self.names]
            body = json.dumps({"id": "evil/repo", "sha": "a" * 40, "siblings": sib}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b"x"
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a/../../x", "..\\x"])
def test_hostile_listing_paths_refused(run_cli: Any, tmp_path: Path, name: str) -> None:
    handler = type("H", (_HostileHub,), {"names": ["ok.txt", name]})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        root = tmp_path / "sandbox"
        cache = root / "cache"
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{srv.server_port}", "HF_HUB_CACHE": str(cache)}
        for extra in ([], ["--local-dir", str(root / "out")]):
            res = run_cli("download", "evil/repo", *extra, env=env)
            assert res.returncode == 5, res  # a server breaking the protocol
            assert "unsafe" in res.stderr.lower()
        written = [p for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink()]
        assert all(root in p.parents for p in written), written
        assert not (tmp_path / "x").exists() and not list(root.rglob("x"))
    finally:
        srv.shutdown()
        srv.server_close()


def test_dropped_connections_resume(hub_server_factory: Any, run_cli: Any, tmp_path: Path) -> None:
    hub = hub_server_factory()
    big = os.urandom(3 * 1024 * 1024)
    hub.seed_repo("alice/m", {"w.bin": big, "c.txt": os.urandom(800_000)})
    hub.set_knobs(fail_rate=0.5, seed=7)
    res = run_cli("download", "alice/m", "--json", env=env_for(hub, tmp_path / "c"))
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    snap = Path(doc["path"])
    assert (snap / "w.bin").read_bytes() == big
    ranges = [r["range"] for r in hub.requests() if r.get("range")]
    # At least one drop happened and was resumed from a byte offset, not from zero.
    assert any(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in ranges), ranges


def test_two_processes_same_repo(hub_server_factory: Any, tmp_path: Path) -> None:
    hub = hub_server_factory(bandwidth_mbps=4)
    big = os.urandom(2 * 1024 * 1024)
    hub.seed_repo("alice/m", {"w.bin": big, "c.txt": "c"})
    env = dict(os.environ, **env_for(hub, tmp_path / "c"))
    cmd = [sys.executable, "-m", "hubcli", "download", "alice/m", "-q"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    snap = Path(outs[0][0].decode().strip())
    assert (snap / "w.bin").read_bytes() == big
    blobs = list((tmp_path / "c" / "models--alice--m" / "blobs").iterdir())
    assert len(blobs) == 2
    cdn = [r for r in hub.requests() if r["origin"] == "cdn" and r["method"] == "GET"]
    assert len(cdn) == 1  # the blob was fetched once


def test_kill_9_then_rerun_resumes(hub_server_factory: Any, run_cli: Any, tmp_path: Path) -> None:
    hub = hub_server_factory(bandwidth_mbps=1)
    big = os.urandom(4 * 1024 * 1024)
    hub.seed_repo("alice/m", {"w.bin": big})
    cache = tmp_path / "c"
    env = dict(os.environ, **env_for(hub, cache))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubcli", "download", "alice/m", "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = cache / "models--alice--m" / "blobs" / f"{hashlib.sha256(big).hexdigest()}.incomplete"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size >= 1024 * 1024:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    have = partial.stat().st_size
    assert 0 < have < len(big)
    hub.set_knobs(bandwidth_mbps=0)
    time.sleep(0.5)  # let the server log the killed run's requests first
    hub.clear_requests()
    res = run_cli("download", "alice/m", "--json", env=env_for(hub, cache))
    assert res.returncode == 0, res
    doc = json.loads(res.stdout)
    assert (Path(doc["path"]) / "w.bin").read_bytes() == big
    f = doc["files"][0]
    assert f["resumed_bytes"] >= have and f["fetched_bytes"] == len(big) - f["resumed_bytes"]
    sent = sum(r["bytes"] for r in hub.requests() if r["origin"] == "cdn")
    assert sent <= len(big) - have
    assert not partial.exists()


def test_disk_full_is_clear_and_leaves_no_half_blob(hub_server: Any, tmp_path: Path) -> None:
    big = os.urandom(3 * 1024 * 1024)
    hub_server.seed_repo("alice/m", {"w.bin": big})
    cache = tmp_path / "c"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))\n"
        "from hubcli.cli.app import main\n"
        "sys.argv = ['hubcli', 'download', 'alice/m']\n"
        "main()\n"
    )
    env = dict(os.environ, **env_for(hub_server, cache))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 8, proc
    assert "Disk full" in proc.stderr and "Traceback" not in proc.stderr
    snap_files = [p for p in (cache / "models--alice--m" / "snapshots").rglob("*") if p.is_file()]
    assert snap_files == []
    assert not any(
        p.suffix != ".incomplete" for p in (cache / "models--alice--m" / "blobs").iterdir()
    )
