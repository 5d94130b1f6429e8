"""Interop: what hubcli uploads, huggingface_hub (the independent witness) reads back."""

from __future__ import annotations

import hashlib
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

CHUNK = 64 * 1024

MIXED = {
    "config.json": b'{"hidden_size": 8}\n',
    "nested/a/b/c.txt": b"deep file\n",
    "unicode/\u00fcber/\u65e5\u672c.txt": "\u00e9t\u00e9\n".encode(),
    "empty.txt": b"",
    "zero.bin": b"",
    "model.safetensors": os.urandom(5000),
    "big/shard.dat": os.urandom(5 * CHUNK + 123),
}


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


@pytest.fixture
def hub(hub_server_factory: Any) -> Any:
    return hub_server_factory(
        lfs_threshold=100_000, multipart_threshold=200_000, multipart_chunk_size=CHUNK
    )


def _cli_env(hub: Any) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_TOKEN": hub.alice_token}


def test_snapshot_download_gets_identical_bytes_and_lfs_metadata(
    hub: Any, run_cli: Any, tmp_path: Path
):
    folder = _write(tmp_path / "src", MIXED)
    r = run_cli("upload", "alice/interop", str(folder), env=_cli_env(hub))
    assert r.returncode == 0, r.stderr
    assert any("/_lfs/part/" in q["path"] for q in hub.requests())  # multipart was exercised

    env = hf_environment(hub.url, tmp_path / "hf_home", token=hub.alice_token)
    out = run_hf(
        """
        import json
        from huggingface_hub import snapshot_download, get_hf_file_metadata, hf_hub_url, HfApi
        path = snapshot_download("alice/interop")
        meta = {}
        for name in ("big/shard.dat", "model.safetensors", "config.json"):
            m = get_hf_file_metadata(hf_hub_url("alice/interop", name))
            meta[name] = m.etag
        lfs = {e.path: (e.lfs.sha256 if e.lfs else None)
               for e in HfApi().list_repo_tree("alice/interop", recursive=True)
               if hasattr(e, "lfs")}
        print(json.dumps({"path": path, "meta": meta, "lfs": lfs}))
        """,
        env,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    snap = Path(doc["path"])
    for rel, data in MIXED.items():
        assert (snap / rel).read_bytes() == data, rel
    big_sha = hashlib.sha256(MIXED["big/shard.dat"]).hexdigest()
    st_sha = hashlib.sha256(MIXED["model.safetensors"]).hexdigest()
    assert doc["meta"]["big/shard.dat"] == big_sha  # X-Linked-Etag = sha256: served as LFS
    assert doc["meta"]["model.safetensors"] == st_sha
    assert doc["lfs"]["big/shard.dat"] == big_sha
    assert doc["lfs"]["zero.bin"] is None and doc["lfs"]["empty.txt"] is None
    assert doc["lfs"]["config.json"] is None


def test_folder_uploaded_by_huggingface_hub_is_a_noop_for_hubcli(
    hub: Any, run_cli: Any, tmp_path: Path
):
    folder = _write(tmp_path / "src", MIXED)
    env = hf_environment(hub.url, tmp_path / "hf_home", token=hub.alice_token)
    run_hf(
        f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("alice/byhf")
        api.upload_folder(repo_id="alice/byhf", folder_path={str(folder)!r})
        """,
        env,
    )
    head = hub.head("alice/byhf")
    hub.clear_requests()
    r = run_cli("upload", "alice/byhf", str(folder), "--json", env=_cli_env(hub))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["nothing_to_commit"] is True
    assert {f["status"] for f in doc["files"]} == {"unchanged"}
    assert hub.head("alice/byhf") == head
    assert not [q for q in hub.requests() if q["method"] == "PUT" or "/commit/" in q["path"]]


def test_create_pr_is_seen_by_huggingface_hub(hub: Any, run_cli: Any, tmp_path: Path):
    hub.seed_repo("alice/prs", {"README.md": "# hi\n"})
    folder = _write(tmp_path / "src", {"new.txt": b"proposal\n"})
    r = run_cli("upload", "alice/prs", str(folder), "--create-pr", env=_cli_env(hub))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == f"{hub.url}/alice/prs/discussions/1"
    env = hf_environment(hub.url, tmp_path / "hf_home", token=hub.alice_token)
    out = run_hf(
        """
        from huggingface_hub import HfApi, hf_hub_download
        refs = HfApi().list_repo_refs("alice/prs", include_pull_requests=True)
        print([p.ref for p in refs.pull_requests])
        print(open(hf_hub_download("alice/prs", "new.txt", revision="refs/pr/1")).read(), end="")
        """,
        env,
    )
    lines = out.stdout.splitlines()
    assert "refs/pr/1" in lines[0]
    assert lines[1] == "proposal"


def _part_puts(
    hub: Any, after: float = 0.0, before: float = float("inf"), settle: float = 0.5
) -> list[Any]:
    """Part PUTs whose request started in ``(after, before)`` (t0: when the server got it);
    ``settle=0`` while uploads are still running (polling must not wait for them)."""
    return [
        q for q in hub.requests(settle)
        if q["method"] == "PUT" and "/_lfs/part/" in q["path"] and after < q["t0"] < before
    ]  # fmt: skip


@pytest.mark.parametrize("restart", [False, True], ids=["same-server", "server-restarted"])
def test_killed_multipart_upload_resumes_without_resending_finished_parts(
    hub_server_factory: Any, run_cli: Any, tmp_path: Path, restart: bool
) -> None:
    """kill -9 mid-upload, rerun at once: only the parts the client had not finished are sent.

    Bodies are paced at 50 kB/s per connection, so when the client dies the parts it was sending
    are still trickling into the server from its socket buffers: the rerun's PUT of such a part
    must replace the dead connection's (it used to get 409 "already being uploaded"). With
    ``restart`` the server is stopped and started again on the same root and ports in between.
    """
    knobs = {"lfs_threshold": 1000, "multipart_threshold": 1000, "multipart_chunk_size": CHUNK}
    hub = hub_server_factory(upload_bandwidth_mbps=0.05, **knobs)
    nparts = 12
    data = os.urandom(nparts * CHUNK - 100)
    folder = _write(tmp_path / "src", {"large.bin": data})
    env = dict(os.environ, **_cli_env(hub))
    cmd = [sys.executable, "-m", "hubcli", "upload", "alice/resume", str(folder), "--workers", "4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len([q for q in _part_puts(hub, settle=0) if q["status"] == 200]) >= 4:
            break
        time.sleep(0.02)
    time.sleep(0.3)  # the next parts are now on their way (each takes ~1.3 s to arrive)
    proc.kill()
    killed_at = time.time()
    proc.communicate()
    first_paths = {q["path"].rsplit("/", 1)[0] for q in _part_puts(hub, settle=0)}
    state_file = Path(os.environ["HF_HOME"]) / "hubcli" / "upload-parts" / f"{_sha(data)}.json"
    recorded = {int(n) for n in json.loads(state_file.read_text())["parts"]}
    assert 4 <= len(recorded) < nparts
    head_after_kill = hub.head("alice/resume")
    repo = hub.storage.get_repo("model", "alice/resume")
    tree = hub.storage.get_commit(repo, head_after_kill).tree if head_after_kill else {}
    assert "large.bin" not in tree  # a killed upload never leaves a half commit
    if restart:
        ports = {"port": hub.state.api_port, "cdn_port": hub.state.cdn_port}
        hub.stop()
        hub = hub_server_factory(root=hub.root, **ports, **knobs)
    else:
        hub.set_knobs(upload_bandwidth_mbps=0)  # the rerun's own connections are not paced

    r = run_cli("upload", "alice/resume", str(folder), env=_cli_env(hub))
    assert r.returncode == 0, r.stderr
    rerun = _part_puts(hub, after=killed_at + 0.05)
    assert sorted(int(q["path"].rsplit("/", 1)[1]) for q in rerun) == sorted(
        set(range(1, nparts + 1)) - recorded
    )  # each missing part once, no finished part again
    assert {q["status"] for q in rerun} == {200}
    assert {q["path"].rsplit("/", 1)[0] for q in rerun} == first_paths  # the same upload
    assert not state_file.exists()  # completed objects forget their part state
    if not restart:  # the dead connections' parts were replaced, not added to the object
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            old = _part_puts(hub, before=killed_at)
            if any(q["status"] == 409 for q in old):
                break
            time.sleep(0.05)
        assert any(q["status"] == 409 for q in old), old
    assert hub.read_file("alice/resume", "large.bin") == data
    assert _sha(hub.storage.lfs_path(_sha(data)).read_bytes()) == _sha(data)
    assert not list((hub.root / "uploads").iterdir())  # the finished session is gone


def test_ctrl_c_during_an_upload_says_so_exits_130_and_a_rerun_resumes(
    hub_server_factory: Any, run_cli: Any, tmp_path: Path
) -> None:
    knobs = {"lfs_threshold": 1000, "multipart_threshold": 1000, "multipart_chunk_size": CHUNK}
    hub = hub_server_factory(upload_bandwidth_mbps=0.2, **knobs)
    data = os.urandom(12 * CHUNK)
    folder = _write(tmp_path / "src", {"large.bin": data})
    env = dict(os.environ, **_cli_env(hub))
    cmd = [sys.executable, "-m", "hubcli", "upload", "alice/intr", str(folder), "--workers", "4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len([q for q in _part_puts(hub, settle=0) if q["status"] == 200]) >= 4:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "upload to alice/intr interrupted" in errors[0] and "resume" in errors[0]
    assert "Traceback" not in err
    state_file = Path(os.environ["HF_HOME"]) / "hubcli" / "upload-parts" / f"{_sha(data)}.json"
    recorded = {int(n) for n in json.loads(state_file.read_text())["parts"]}
    assert len(recorded) >= 4
    hub.set_knobs(upload_bandwidth_mbps=0)
    rerun_at = time.time()
    r = run_cli("upload", "alice/intr", str(folder), env=_cli_env(hub))
    assert r.returncode == 0, r.stderr
    sent = {int(q["path"].rsplit("/", 1)[1]) for q in _part_puts(hub, after=rerun_at)}
    assert sent == set(range(1, 13)) - recorded
    assert hub.read_file("alice/intr", "large.bin") == data


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
