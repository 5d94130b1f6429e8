"""``hubcli store migrate --from SRC --to DST``: file -> s3 -> file round trip, byte-identical,
served by a replica; resumable after a stop; every object verified (docs/storage.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from hubcli.server import HubServer
from hubcli.server.ids import StorageError
from hubcli.server.storage import Storage
from hubcli.server.store import open_storage, parse_storage_url
from hubcli.server.store.migrate import migrate
from tests.fixtures.hub import hf_environment, run_hf
from tests.s3.conftest import TOKENS, ObjectStore

ALICE = {"Authorization": "Bearer hf_alice_token"}


def _seed(root: Path) -> dict[str, bytes]:
    big = os.urandom(3 * 1024 * 1024 + 5)
    files: dict[str, bytes] = {"config.json": b"{}", "model.safetensors": big}
    with HubServer(root, tokens=dict(TOKENS), lfs_threshold=1024) as srv:
        srv.seed_repo("alice/m", {"config.json": "{}", "README.md": "# v1"}, tags=["v1"])
        srv.seed_repo("alice/m", {"model.safetensors": big})
        srv.seed_repo("alice/m", {"dev.txt": "on dev"}, branch="dev")
        srv.seed_repo("bob/data", {"train.csv": "a,b\n1,2\n"}, repo_type="dataset")
        r = requests.post(
            f"{srv.url}/api/models/alice/m/commit/main?create_pr=1", headers=ALICE, timeout=30,
            data=json.dumps({"key": "header", "value": {"summary": "pr"}}) + "\n"
            + json.dumps({"key": "file", "value": {"path": "pr.txt", "content": "eA==",
                                                   "encoding": "base64"}}),
        )  # fmt: skip
        assert r.ok, r.text
    return files


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of a file store but its scratch dirs (lfs-index lines as a sorted set)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or rel.split("/")[0] in ("tmp", "uploads", "mirror"):
            continue
        if rel.startswith("lfs-grants") or rel.endswith(".secret"):
            continue
        data = p.read_bytes()
        if p.name == "lfs-index.txt":
            data = b"".join(sorted(data.splitlines(keepends=True)))
        out[rel] = data
    return out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("hubcli")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hubcli.cli.app"]
    return subprocess.run(
        [*cmd, "store", "migrate", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )


def test_file_to_s3_to_file_round_trip_is_byte_identical_and_served(
    object_store: ObjectStore, bucket: str, tmp_path: Path, replica_factory: Any
) -> None:
    a, c = tmp_path / "a", tmp_path / "c"
    files = _seed(a)
    s3 = f"s3://{bucket}/hub"
    r = _cli("--from", f"file://{a}", "--to", s3, "--s3-endpoint", object_store.url)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    assert first["repos"] == 2 and first["commits"] >= 5 and first["blobs"] >= 6
    # idempotent: a second run copies nothing
    again = json.loads(
        _cli("--from", f"file://{a}", "--to", s3, "--s3-endpoint", object_store.url)
        .stdout
    )  # fmt: skip
    assert again["commits"] == 0 and again["blobs"] == 0 and again["refs"] == 0
    assert again["commits_skipped"] == first["commits"]
    # the S3 store is served by a replica: huggingface_hub downloads every file
    srv = replica_factory()
    out = run_hf(
        """
        from huggingface_hub import snapshot_download
        print(snapshot_download("alice/m", token="hf_alice_token"))
        """,
        hf_environment(srv.url, tmp_path / "hf"),
    )
    snap = Path(out.stdout.strip().splitlines()[-1])
    for name, data in files.items():
        assert (snap / name).read_bytes() == data
    refs = requests.get(f"{srv.url}/api/models/alice/m/refs?include_prs=1", headers=ALICE).json()
    assert {b["name"] for b in refs["branches"]} == {"main", "dev"}
    assert [t["name"] for t in refs["tags"]] == ["v1"]
    assert [p["ref"] for p in refs["pullRequests"]] == ["refs/pr/1"]
    # and back: the file store is the one we started from, byte for byte
    r = _cli("--from", s3, "--to", f"file://{c}", "--s3-endpoint", object_store.url)
    assert r.returncode == 0, r.stderr
    assert _tree(c) == _tree(a)
    assert any(k.startswith("objects/") for k in _tree(a))
    assert any(k.startswith("repos/models/alice/m/commits/") for k in _tree(a))


def test_migration_resumes_and_verifies(
    object_store: ObjectStore, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = tmp_path / "a"
    _seed(a)
    src = Storage(a)
    dst = open_storage(parse_storage_url(f"s3://{bucket}/hub"), s3_endpoint=object_store.url)
    real = type(dst).import_commit
    calls: list[str] = []

    def dies_after_two(self: Any, repo: Any, body: dict[str, Any]) -> None:
        if len(calls) == 2:
            raise ConnectionError("the migration was killed")
        calls.append(body["id"])
        real(self, repo, body)

    monkeypatch.setattr(type(dst), "import_commit", dies_after_two)
    with pytest.raises(ConnectionError):
        migrate(src, dst)
    repo = dst.get_repo("model", "alice/m")
    assert repo is not None and not any(repo.refs.values())  # refs last: nothing reachable yet
    monkeypatch.setattr(type(dst), "import_commit", real)
    stats = migrate(src, dst)
    assert stats.commits_skipped == 2 and stats.blobs_skipped >= 1
    assert dst.get_repo("model", "alice/m").refs == src.get_repo("model", "alice/m").refs  # type: ignore[union-attr]
    # a corrupted source blob is refused, never stored
    bad = Storage(tmp_path / "bad")
    with HubServer(bad.root, lfs_threshold=1024) as srv:
        srv.seed_repo("alice/x", {"w.bin": os.urandom(5000)})
    blob = next(
        p for p in (bad.root / "objects").rglob("*") if p.is_file() and p.stat().st_size == 5000
    )
    blob.write_bytes(b"\0" * 5000)
    with pytest.raises(StorageError):
        migrate(Storage(bad.root), dst)
    assert dst.get_repo("model", "alice/x").refs["heads"] == {}  # type: ignore[union-attr]


def test_store_migrate_cli_exit_codes(
    object_store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    """One error line and a distinct code: 2 a bad URL, 6 a source object failing its check."""
    r = _cli("--from", "ftp://nowhere/x", "--to", f"file://{tmp_path / 'd'}")
    assert r.returncode == 2, r
    error = json.loads(r.stderr.strip().splitlines()[-1])["error"]  # --json: a JSON error line
    assert error["exit_code"] == 2 and "file://DIR or s3://bucket/prefix" in error["message"]
    bad = tmp_path / "bad"
    with HubServer(bad, lfs_threshold=1024) as srv:
        srv.seed_repo("alice/x", {"w.bin": os.urandom(5000)})
    blob = next(p for p in (bad / "objects").rglob("*") if p.is_file() and p.stat().st_size == 5000)
    blob.write_bytes(b"\0" * 5000)
    s3 = f"s3://{bucket}/corrupt"
    r = _cli("--from", f"file://{bad}", "--to", s3, "--s3-endpoint", object_store.url)
    assert r.returncode == 6, r
    assert json.loads(r.stderr.strip().splitlines()[-1])["error"]["exit_code"] == 6
    assert "Traceback" not in r.stderr
