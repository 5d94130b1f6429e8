"""The upload engine as a library, against the local hub: batching, conflicts, failure atomicity."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hubcli.client import HubClient
from hubcli.config import resolve_settings
from hubcli.errors import ConflictError, HubError, LocalFileError, NetworkError
from hubcli.http import HubSession
from hubcli.repo import RepoRef
from hubcli.upload import commit as commit_mod
from hubcli.upload.engine import plan_upload, upload


def _client(hub: Any, token: str | None = None) -> HubClient:
    settings = resolve_settings(endpoint=hub.url, token=token or hub.alice_token, env={})
    return HubClient(HubSession(settings, max_retries=1, backoff_base=0.01))


def _folder(root: Path, n: int) -> Path:
    root.mkdir()
    for i in range(n):
        (root / f"f{i:03d}.txt").write_text(f"file {i}\n")
    return root


def test_many_files_are_committed_in_bounded_atomic_batches(hub_server: Any, tmp_path: Path):
    folder = _folder(tmp_path / "d", 25)
    ref = RepoRef("alice/many")
    res = upload(_client(hub_server), ref, plan_upload(folder), max_files_per_commit=10)
    assert len(res.commits) == 3
    repo = hub_server.storage.get_repo("model", "alice/many")
    history = hub_server.storage.history(repo, hub_server.head("alice/many"))
    titles = [c.title for c in history[:3]]
    assert titles[0].endswith("(part 3)") and titles[1].endswith("(part 2)")
    assert len(history[0].tree) >= 25
    assert all(s.status == "uploaded" for s in res.files)


def test_branch_moved_pure_add_retries_once_on_new_parent(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    hub_server.seed_repo("alice/race", {"a.txt": "a"})
    folder = _folder(tmp_path / "d", 2)
    client = _client(hub_server)
    real_commit = commit_mod.send_commit
    calls = {"n": 0}

    def racing_commit(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # someone else pushes between our preupload and our commit
            hub_server.seed_repo("alice/race", {"other.txt": "o"})
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(commit_mod, "send_commit", racing_commit)
    res = upload(client, RepoRef("alice/race"), plan_upload(folder))
    assert calls["n"] == 2
    assert hub_server.read_file("alice/race", "other.txt") == b"o"
    assert hub_server.read_file("alice/race", "f000.txt") == b"file 0\n"
    assert res.commit_oid == hub_server.head("alice/race")


def test_branch_moved_with_deletions_fails_clearly_without_commit(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    hub_server.seed_repo("alice/race2", {"old.log": "x"})
    folder = _folder(tmp_path / "d", 1)
    client = _client(hub_server)
    real_commit = commit_mod.send_commit

    def racing_commit(*args: Any, **kwargs: Any) -> Any:
        hub_server.seed_repo("alice/race2", {"other.txt": "o"})
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(commit_mod, "send_commit", racing_commit)
    with pytest.raises(ConflictError, match="branch moved"):
        upload(client, RepoRef("alice/race2"), plan_upload(folder, delete=["*.log"]))
    assert hub_server.read_file("alice/race2", "old.log") == b"x"
    with pytest.raises(FileNotFoundError):
        hub_server.read_file("alice/race2", "f000.txt")


def test_failed_lfs_transfer_leaves_no_commit(hub_server_factory: Any, tmp_path: Path):
    hub = hub_server_factory(lfs_threshold=1000)
    hub.seed_repo("alice/atomic", {"a.txt": "a"})
    before = hub.head("alice/atomic")
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "small.txt").write_text("s")
    (folder / "big.dat").write_bytes(b"x" * 5000)
    client = _client(hub)
    real_batch = client.lfs_batch

    def broken_batch(*args: Any, **kwargs: Any) -> Any:
        answer = real_batch(*args, **kwargs)
        for obj in answer["objects"]:  # point the transfer at a dead origin
            obj["actions"]["upload"]["href"] = "http://127.0.0.1:9/nowhere"
        return answer

    client.lfs_batch = broken_batch  # type: ignore[method-assign]
    with pytest.raises(NetworkError):
        upload(client, RepoRef("alice/atomic"), plan_upload(folder))
    assert hub.head("alice/atomic") == before
    with pytest.raises(FileNotFoundError):
        hub.read_file("alice/atomic", "small.txt")


def _edited_after_hashing(hub: Any, tmp_path: Path) -> tuple[Path, HubClient]:
    """A folder whose notes.txt is rewritten once hashed (while the preupload is asked)."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "notes.txt").write_text("first version\n")
    client = _client(hub)
    real_preupload = client.preupload

    def edit_then_preupload(*args: Any, **kwargs: Any) -> Any:
        (folder / "notes.txt").write_text("second version\n")
        return real_preupload(*args, **kwargs)

    client.preupload = edit_then_preupload  # type: ignore[method-assign]
    return folder, client


def test_file_changed_after_hashing_is_not_committed(hub_server: Any, tmp_path: Path):
    hub_server.seed_repo("alice/changing", {"a.txt": "a"})
    before = hub_server.head("alice/changing")
    folder, client = _edited_after_hashing(hub_server, tmp_path)
    import hubcli.upload.items as items

    old = items.KEEP_CONTENT_BUDGET
    items.KEEP_CONTENT_BUDGET = 0  # commit re-reads the file from disk
    try:
        with pytest.raises(LocalFileError, match="changed"):
            upload(client, RepoRef("alice/changing"), plan_upload(folder))
    finally:
        items.KEEP_CONTENT_BUDGET = old
    assert hub_server.head("alice/changing") == before


def test_kept_bytes_are_what_was_hashed_and_committed(hub_server: Any, tmp_path: Path):
    hub_server.seed_repo("alice/kept", {"a.txt": "a"})
    folder, client = _edited_after_hashing(hub_server, tmp_path)
    result = upload(client, RepoRef("alice/kept"), plan_upload(folder))
    assert result.commit_oid == hub_server.head("alice/kept")
    # the commit carries the bytes that were hashed (one consistent snapshot), never a mix
    assert hub_server.read_file("alice/kept", "notes.txt") == b"first version\n"


def test_refused_preupload_surfaces_while_large_files_hash(hub_server: Any, tmp_path: Path):
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(3):
        (folder / f"w{i}.bin").write_bytes(os.urandom(3 << 20))
    client = _client(hub_server, token=hub_server.bob_token)
    with pytest.raises(HubError) as info:  # bob may not write to alice's namespace
        upload(client, RepoRef("alice/not-bobs"), plan_upload(folder), create_repo=True)
    assert info.value.exit_code == 3


def test_preupload_answers_from_different_heads_are_asked_again(hub_server: Any, tmp_path: Path):
    hub_server.seed_repo("alice/moving", {"a.txt": "a"})
    folder = _folder(tmp_path / "d", 300)  # two preupload chunks
    client = _client(hub_server)
    real_preupload = client.preupload
    calls = {"n": 0}

    def moving_preupload(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # someone pushes while our chunks are being asked
            hub_server.seed_repo("alice/moving", {"other.txt": "o"})
            answer = real_preupload(*args, **kwargs)
            answer["commitOid"] = "0" * 40  # this answer saw an older head
            return answer
        return real_preupload(*args, **kwargs)

    client.preupload = moving_preupload  # type: ignore[method-assign]
    res = upload(client, RepoRef("alice/moving"), plan_upload(folder))
    assert calls["n"] == 4  # 2 chunks, asked twice
    head = hub_server.head("alice/moving")
    assert res.commit_oid == head and len(res.commits) == 1
    assert hub_server.read_file("alice/moving", "other.txt") == b"o"
    assert hub_server.read_file("alice/moving", "f299.txt") == b"file 299\n"


def test_rerun_reuses_remembered_hashes_of_large_unchanged_files(
    hub_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import time

    import hubcli.upload.items as items
    from hubcli.upload.hash_cache import MIN_SIZE

    hub_server.seed_repo("alice/big", {"a.txt": "a"})
    folder = tmp_path / "d"
    folder.mkdir()
    big = folder / "w.bin"
    big.write_bytes(os.urandom(MIN_SIZE + 1))
    past = time.time() - 60
    os.utime(big, (past, past))
    hashed: list[str] = []
    real = items.hash_file

    def counting(path: Any, **kw: Any) -> Any:
        hashed.append(Path(path).name)
        return real(path, **kw)

    monkeypatch.setattr(items, "hash_file", counting)
    cache = tmp_path / "hashes"
    ref = RepoRef("alice/big")
    first = upload(_client(hub_server), ref, plan_upload(folder), hash_cache_dir=cache)
    second = upload(_client(hub_server), ref, plan_upload(folder), hash_cache_dir=cache)
    assert hashed == ["w.bin"]  # the rerun trusted the remembered sha256
    assert second.nothing_to_commit and second.commit_oid == first.commit_oid
    with big.open("r+b") as fh:  # same size, new bytes: must be hashed and sent again
        fh.write(b"changed!")
    third = upload(_client(hub_server), ref, plan_upload(folder), hash_cache_dir=cache)
    assert hashed == ["w.bin", "w.bin"] and not third.nothing_to_commit
    assert hub_server.read_file("alice/big", "w.bin") == big.read_bytes()
