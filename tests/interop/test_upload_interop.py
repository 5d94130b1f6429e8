"""Interop: what hubcli uploads, huggingface_hub (the independent witness) reads back."""

from __future__ import annotations

import hashlib
import json
import os
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


def test_killed_multipart_upload_resumes_without_resending_finished_parts(
    hub_server_factory: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub = hub_server_factory(
        lfs_threshold=1000, multipart_threshold=1000, multipart_chunk_size=CHUNK, latency_ms=150
    )
    data = os.urandom(16 * CHUNK)
    folder = _write(tmp_path / "src", {"large.bin": data})
    env = dict(os.environ, **_cli_env(hub))
    cmd = [sys.executable, "-m", "hubcli", "upload", "alice/resume", str(folder), "--workers", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finished_parts() -> list[dict[str, Any]]:
        return [
            q for q in hub.requests()
            if q["method"] == "PUT" and "/_lfs/part/" in q["path"] and q["status"] == 200
        ]  # fmt: skip

    deadline = time.monotonic() + 60
    while len(finished_parts()) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    time.sleep(0.6)  # let the server finish logging a request that was in flight
    done_before = len(finished_parts())
    assert 4 <= done_before < 16
    repo = hub.storage.get_repo("model", "alice/resume")
    head_after_kill = hub.head("alice/resume")
    tree = hub.storage.get_commit(repo, head_after_kill).tree if head_after_kill else {}
    assert "large.bin" not in tree  # a killed upload never leaves a half commit
    first_paths = {q["path"].rsplit("/", 1)[0] for q in finished_parts()}
    state = Path(os.environ["HF_HOME"]) / "hubcli" / "upload-parts"
    state_file = state / f"{hashlib.sha256(data).hexdigest()}.json"
    recorded = len(json.loads(state_file.read_text())["parts"])
    # the client records a part once its answer arrived: at most the one in flight is missing
    assert done_before - 1 <= recorded <= done_before
    hub.clear_requests()
    hub.set_knobs(latency_ms=0)

    r = run_cli("upload", "alice/resume", str(folder), env=_cli_env(hub))
    assert r.returncode == 0, r.stderr
    assert hub.read_file("alice/resume", "large.bin") == data
    puts = [q for q in hub.requests() if q["method"] == "PUT"]
    second_paths = {q["path"].rsplit("/", 1)[0] for q in puts}
    assert first_paths & second_paths  # the same multipart session was resumed
    assert len(puts) == 16 - recorded
    assert not state_file.exists()  # completed objects forget their part state
