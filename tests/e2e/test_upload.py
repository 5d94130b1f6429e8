"""End-to-end: `hubcli upload` through the real CLI against the local hub over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _env(hub: Any, token: str | None = None) -> dict[str, str]:
    env = {"HF_ENDPOINT": hub.url}
    if token:
        env["HF_TOKEN"] = token
    return env


def _writes(hub: Any) -> list[dict[str, Any]]:
    return [r for r in hub.requests() if r["method"] in ("PUT", "POST", "DELETE")]


MIXED = {
    "config.json": b'{"a": 1}\n',
    "README.md": b"# hello\n",
    "nested/deep/notes.txt": b"deep\n",
    "nested/d\u00e9j\u00e0 vu.txt": "unicode \u2713\n".encode(),
    "empty.txt": b"",
    "zero.bin": b"",
    "weights.safetensors": os.urandom(3000),
    "big/blob.dat": os.urandom(700_000),
}


@pytest.fixture
def hub(hub_server_factory: Any) -> Any:
    # small thresholds: 200 KB is LFS, 500 KB multipart in 128 KiB parts
    return hub_server_factory(
        lfs_threshold=200_000, multipart_threshold=500_000, multipart_chunk_size=128 * 1024
    )


def test_upload_mixed_folder_creates_repo_and_round_trips(hub: Any, run_cli: Any, tmp_path: Path):
    folder = _tree(tmp_path / "data", MIXED)
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("secret")
    _tree(folder, {".cache/huggingface/download/x.metadata": b"meta"})

    r = run_cli("upload", "alice/mixed", str(folder), "--json", env=_env(hub, hub.alice_token))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    head = hub.head("alice/mixed")
    assert doc["commit_oid"] == head
    assert doc["commit_url"].endswith(f"/alice/mixed/commit/{head}")
    modes = {f["path"]: (f["mode"], f["status"], f["size"]) for f in doc["files"]}
    assert set(modes) == set(MIXED)  # .git/ and .cache/huggingface/ are never uploaded
    assert modes["big/blob.dat"] == ("lfs", "uploaded", 700_000)
    assert modes["weights.safetensors"][0] == "lfs"
    assert modes["zero.bin"] == ("regular", "uploaded", 0)  # 0-byte LFS-pattern file: regular
    assert modes["config.json"][0] == "regular"
    for rel, data in MIXED.items():
        assert hub.read_file("alice/mixed", rel) == data, rel
    # multipart happened: parts went to the CDN-style origin without credentials
    parts = [q for q in hub.requests() if q["method"] == "PUT" and "/_lfs/part/" in q["path"]]
    assert len(parts) == -(-700_000 // (128 * 1024))
    assert not any(q.get("auth") for q in parts)


def test_second_upload_sends_and_commits_nothing(hub: Any, run_cli: Any, tmp_path: Path):
    folder = _tree(tmp_path / "data", MIXED)
    env = _env(hub, hub.alice_token)
    first = run_cli("upload", "alice/again", str(folder), env=env)
    assert first.returncode == 0, first.stderr
    head = hub.head("alice/again")
    hub.clear_requests()

    second = run_cli("upload", "alice/again", str(folder), env=env)
    assert second.returncode == 0, second.stderr
    assert "nothing to commit" in second.stderr.lower()
    assert second.stdout.strip().splitlines()[-1].endswith(f"/commit/{head}")
    assert hub.head("alice/again") == head
    writes = _writes(hub)
    assert [w["path"] for w in writes] == [
        "/api/validate-yaml",  # MIXED has a README.md: its metadata is checked first
        "/api/models/alice/again/preupload/main",
    ]


def test_only_changed_files_are_sent(hub: Any, run_cli: Any, tmp_path: Path):
    folder = _tree(tmp_path / "data", MIXED)
    env = _env(hub, hub.alice_token)
    assert run_cli("upload", "alice/chg", str(folder), env=env).returncode == 0
    (folder / "config.json").write_bytes(b'{"a": 2}\n')
    hub.clear_requests()
    r = run_cli("upload", "alice/chg", str(folder), "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    status = {f["path"]: f["status"] for f in doc["files"]}
    assert status.pop("config.json") == "uploaded"
    assert set(status.values()) == {"unchanged"}
    assert not [q for q in hub.requests() if q["method"] == "PUT"]
    assert hub.read_file("alice/chg", "config.json") == b'{"a": 2}\n'


def test_include_exclude_delete_and_path_in_repo(hub: Any, run_cli: Any, tmp_path: Path):
    hub.seed_repo("alice/g", {"sub/old.log": "x", "sub/keep.txt": "k", "top.log": "t"})
    folder = _tree(tmp_path / "d", {"a.txt": b"a", "b.log": b"b", "c/d.txt": b"d", "e.md": b"e"})
    r = run_cli(
        "upload", "alice/g", str(folder), "sub",
        "--include", "*.txt", "--include", "*.log", "--exclude", "c/",
        "--delete", "*.log", "--json",
        env=_env(hub, hub.alice_token),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    status = {f["path"]: f["status"] for f in doc["files"]}
    assert status == {"sub/a.txt": "uploaded", "sub/b.log": "uploaded", "sub/old.log": "deleted"}
    assert hub.read_file("alice/g", "top.log") == b"t"  # outside PATH_IN_REPO: untouched
    assert hub.read_file("alice/g", "sub/keep.txt") == b"k"
    with pytest.raises(FileNotFoundError):
        hub.read_file("alice/g", "sub/old.log")
    assert len(doc["commits"]) == 1


def test_single_file_upload_prints_commit_url_last(hub: Any, run_cli: Any, tmp_path: Path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"\x00" * 1000)
    r = run_cli(
        "upload", "datasets/alice/ds", str(f), "weights/m.bin", "-m", "add weights",
        env=_env(hub, hub.alice_token),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    head = hub.head("alice/ds", repo_type="dataset")
    assert r.stdout.strip().splitlines()[-1] == f"{hub.url}/datasets/alice/ds/commit/{head}"
    assert hub.read_file("alice/ds", "weights/m.bin", repo_type="dataset") == b"\x00" * 1000
    commit = hub.storage.get_commit(hub.storage.get_repo("dataset", "alice/ds"), head)
    assert commit.title == "add weights"


def test_private_flag_creates_private_repo(hub: Any, run_cli: Any, tmp_path: Path):
    folder = _tree(tmp_path / "d", {"a.txt": b"a"})
    r = run_cli("upload", "alice/priv", str(folder), "--private", env=_env(hub, hub.alice_token))
    assert r.returncode == 0, r.stderr
    assert hub.storage.get_repo("model", "alice/priv").meta["private"] is True


def test_symlink_outside_folder_is_refused(hub: Any, run_cli: Any, tmp_path: Path):
    folder = _tree(tmp_path / "d", {"a.txt": b"a"})
    secret = tmp_path / "secret.txt"
    secret.write_text("do not publish")
    os.symlink(secret, folder / "leak.txt")
    os.symlink(folder / "a.txt", folder / "inner.txt")  # inside: fine
    hub.clear_requests()
    r = run_cli("upload", "alice/sym", str(folder), env=_env(hub, hub.alice_token))
    assert r.returncode == 2
    assert "leak.txt" in r.stderr and "outside" in r.stderr
    assert _writes(hub) == []
    ok = run_cli(
        "upload", "alice/sym", str(folder), "--exclude", "leak.txt", env=_env(hub, hub.alice_token)
    )
    assert ok.returncode == 0, ok.stderr
    assert hub.read_file("alice/sym", "inner.txt") == b"a"


def test_no_token_exits_3_with_login_hint(hub: Any, run_cli: Any, tmp_path: Path):
    folder = _tree(tmp_path / "d", {"a.txt": b"a"})
    r = run_cli("upload", "alice/x", str(folder), env=_env(hub))
    assert r.returncode == 3
    assert "hubcli auth login" in r.stderr
    assert _writes(hub) == []


def test_no_write_permission_exits_3(hub: Any, run_cli: Any, tmp_path: Path):
    hub.seed_repo("alice/theirs", {"a.txt": "a"})
    before = hub.head("alice/theirs")
    folder = _tree(tmp_path / "d", {"a.txt": b"changed"})
    r = run_cli("upload", "alice/theirs", str(folder), env=_env(hub, hub.bob_token))
    assert r.returncode == 3, r
    assert hub.head("alice/theirs") == before


def test_missing_pr_revision_exits_4_and_new_branch_is_created(
    hub: Any, run_cli: Any, tmp_path: Path
):
    hub.seed_repo("alice/rev", {"a.txt": "a"})
    folder = _tree(tmp_path / "d", {"b.txt": b"b"})
    env = _env(hub, hub.alice_token)
    r = run_cli("upload", "alice/rev", str(folder), "--revision", "refs/pr/9", env=env)
    assert r.returncode == 4, r
    r = run_cli("upload", "alice/rev", str(folder), "--revision", "dev", env=env)
    assert r.returncode == 0, r.stderr
    assert hub.read_file("alice/rev", "b.txt", revision="dev") == b"b"
    with pytest.raises(FileNotFoundError):
        hub.read_file("alice/rev", "b.txt", revision="main")


def test_create_pr_prints_pr_url(hub: Any, run_cli: Any, tmp_path: Path):
    main = hub.seed_repo("alice/pr", {"a.txt": "a"})
    folder = _tree(tmp_path / "d", {"b.txt": b"b"})
    r = run_cli("upload", "alice/pr", str(folder), "--create-pr", env=_env(hub, hub.alice_token))
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith("/alice/pr/discussions/1"), last
    assert hub.head("alice/pr") == main
    assert hub.read_file("alice/pr", "b.txt", revision="refs/pr/1") == b"b"


def test_lfs_sha256_recorded(hub: Any, run_cli: Any, tmp_path: Path):
    data = os.urandom(300_000)
    folder = _tree(tmp_path / "d", {"w.dat": data})
    r = run_cli("upload", "alice/sha", str(folder), env=_env(hub, hub.alice_token))
    assert r.returncode == 0, r.stderr
    repo = hub.storage.get_repo("model", "alice/sha")
    entry = hub.storage.get_commit(repo, hub.head("alice/sha")).tree["w.dat"]
    assert entry.sha256 == hashlib.sha256(data).hexdigest()


def test_readme_with_broken_metadata_fails_before_anything_is_sent(
    hub: Any, run_cli: Any, tmp_path: Path
):
    card = b"---\nlicense: mit\ntags: [unclosed\n---\n# Model\n"
    folder = _tree(tmp_path / "d", {"README.md": card, "w.bin": os.urandom(2048)})
    r = run_cli("upload", "alice/card", str(folder), env=_env(hub, hub.alice_token))
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: README.md: invalid metadata")
    assert "Traceback" not in r.stderr
    paths = [w["path"] for w in _writes(hub)]
    assert paths == ["/api/validate-yaml"]  # no repo created, no preupload, no commit
    fixed = b"---\nlicense: mit\ntags: [a, b]\n---\n# Model\n"
    (folder / "README.md").write_bytes(fixed)
    r = run_cli("upload", "alice/card", str(folder), env=_env(hub, hub.alice_token))
    assert r.returncode == 0, r.stderr
    assert hub.read_file("alice/card", "README.md") == fixed


def test_no_op_rerun_of_a_large_file_reads_remembered_hashes(
    hub: Any, run_cli: Any, tmp_path: Path
):
    from hubcli.upload.hash_cache import MIN_SIZE

    folder = _tree(tmp_path / "d", {"big.bin": os.urandom(MIN_SIZE)})
    past = time.time() - 60
    os.utime(folder / "big.bin", (past, past))
    env = _env(hub, hub.alice_token)
    assert run_cli("upload", "alice/remember", str(folder), env=env).returncode == 0
    entries = list((Path(os.environ["HF_HOME"]) / "hubcli" / "upload-hashes").glob("*.json"))
    assert len(entries) == 1
    remembered = json.loads(entries[0].read_text())
    assert remembered["sha256"] == hashlib.sha256((folder / "big.bin").read_bytes()).hexdigest()
    again = run_cli("upload", "alice/remember", str(folder), env=env)
    assert again.returncode == 0 and "nothing to commit" in again.stderr.lower()
