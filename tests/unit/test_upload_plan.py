"""Unit: upload plans (walk, globs, default ignores, symlinks) and streaming hashes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcli.errors import LocalFileError, UsageError
from hubcli.globs import matches
from hubcli.hashing import (
    EMPTY_BLOB_SHA1,
    HashCancelled,
    Hasher,
    git_blob_sha1,
    git_blob_sha1_bytes,
    hash_file,
    sha256_file,
)
from hubcli.upload.plan import plan_upload


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)


def _paths(plan: object) -> list[str]:
    return [f.path_in_repo for f in plan.files]  # type: ignore[attr-defined]


def test_default_ignores_and_sorting(tmp_path: Path) -> None:
    _touch(tmp_path, "b.txt", "a/x.txt", ".git/HEAD", "sub/.git/config")
    _touch(tmp_path, ".cache/huggingface/download/a.metadata", "sub/.cache/huggingface/x")
    assert _paths(plan_upload(tmp_path)) == ["a/x.txt", "b.txt"]


def test_other_cache_folder_is_refused_like_the_hub(tmp_path: Path) -> None:
    _touch(tmp_path, ".cache/other/x")
    with pytest.raises(UsageError, match=r"\.cache"):
        plan_upload(tmp_path)
    assert plan_upload(tmp_path, exclude=[".cache/"]).files == ()


def test_include_exclude_and_prefix(tmp_path: Path) -> None:
    _touch(tmp_path, "a.txt", "b.bin", "logs/c.txt", "logs/d.log")
    plan = plan_upload(tmp_path, path_in_repo="./dest/", include=["*.txt"], exclude=["logs/"])
    assert _paths(plan) == ["dest/a.txt"]
    assert plan.prefix == "dest"
    assert _paths(plan_upload(tmp_path, include=["logs/*"])) == ["logs/c.txt", "logs/d.log"]


def test_single_file_destinations(tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"x")
    assert _paths(plan_upload(f)) == ["w.bin"]
    assert _paths(plan_upload(f, path_in_repo="m/model.bin")) == ["m/model.bin"]
    assert _paths(plan_upload(f, path_in_repo="m/")) == ["m/w.bin"]
    with pytest.raises(Exception, match=r"unsafe|\.\."):
        plan_upload(f, path_in_repo="../escape.bin")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(LocalFileError):
        plan_upload(tmp_path / "nope")


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _touch(root, "real.txt", "sub/r.txt")
    outside = tmp_path / "outside"
    _touch(outside, "s.txt")
    os.symlink(root / "real.txt", root / "inner.txt")
    assert "inner.txt" in _paths(plan_upload(root))
    os.symlink(outside / "s.txt", root / "leak.txt")
    with pytest.raises(UsageError, match=r"leak\.txt"):
        plan_upload(root)
    assert "leak.txt" not in _paths(plan_upload(root, exclude=["leak.txt"]))
    os.unlink(root / "leak.txt")
    os.symlink(outside, root / "dirlink")
    with pytest.raises(UsageError, match="dirlink"):
        plan_upload(root)
    os.unlink(root / "dirlink")
    os.symlink(root / "missing", root / "broken")
    with pytest.raises(UsageError, match="broken"):
        plan_upload(root)


def test_glob_semantics() -> None:
    assert matches("a/b/c.txt", ["*.txt"])  # '*' crosses folders, like huggingface_hub
    assert matches("logs/x", ["logs/"])
    assert not matches("A.TXT", ["*.txt"])


def test_hashes_match_git_and_hashlib(tmp_path: Path) -> None:
    f = tmp_path / "f"
    data = os.urandom(3 * (1 << 20) + 17)
    f.write_bytes(data)
    sha256, sha1 = hash_file(f)
    assert sha256 == hashlib.sha256(data).hexdigest() == sha256_file(f)
    git = subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True)
    if git.returncode == 0:
        assert sha1 == git.stdout.strip()
    assert sha1 == git_blob_sha1(f) == git_blob_sha1_bytes(data)
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    assert git_blob_sha1(empty) == EMPTY_BLOB_SHA1


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_incremental_hasher_equals_one_shot(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    h = Hasher(size=len(data))
    for c in chunks:
        h.update(c)
    assert h.sha256() == hashlib.sha256(data).hexdigest()
    assert h.git_sha1() == git_blob_sha1_bytes(data)


def test_hash_file_reports_bytes_and_stops_on_request(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(os.urandom(5 * 1024))
    seen: list[int] = []
    sha256, sha1 = hash_file(f, sha1=False, chunk_size=1024, on_bytes=seen.append)
    assert seen == [1024] * 5 and sha1 is None
    assert sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    stop = threading.Event()

    def stop_after_two(n: int) -> None:
        seen.append(n)
        if len(seen) == 7:
            stop.set()

    with pytest.raises(HashCancelled):
        hash_file(f, chunk_size=1024, on_bytes=stop_after_two, stop=stop)
    assert len(seen) == 7  # two more chunks, then it gave up


@pytest.mark.parametrize("size", [0, 1023, 1024, 1025, 8 * 1024 - 1, 8 * 1024, 20 * 1024 + 7])
def test_overlapped_reading_gives_the_same_ids(tmp_path: Path, size: int) -> None:
    import hubcli.hashing as hashing

    f = tmp_path / "f"
    data = os.urandom(size)
    f.write_bytes(data)
    threads = threading.active_count()
    seen: list[int] = []
    sha256, sha1 = hash_file(f, chunk_size=1024, on_bytes=seen.append)  # >= 8 chunks: overlapped
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert sha1 == git_blob_sha1_bytes(data) and sum(seen) == size
    assert hash_file(f, sha256=False, chunk_size=1024) == (None, sha1)
    assert hashing.hash_file(f, sha1=False, chunk_size=1024)[0] == sha256
    assert threading.active_count() == threads  # the reader thread is always joined


def test_overlapped_reading_stops_and_reports_read_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    f = tmp_path / "f"
    f.write_bytes(os.urandom(64 * 1024))
    threads = threading.active_count()
    stop = threading.Event()
    stop.set()
    with pytest.raises(HashCancelled):
        hash_file(f, chunk_size=1024, stop=stop)

    class Failing(io.BytesIO):
        reads = 0

        def readinto(self, buf: Any) -> int:
            self.reads += 1
            if self.reads == 5:
                raise OSError(5, "Input/output error")
            return super().readinto(buf)

    from hubcli.hashing import _chunks_overlapped

    src = Failing(os.urandom(64 * 1024))
    with pytest.raises(OSError, match="Input/output"):
        for _ in _chunks_overlapped(src, 1024):  # type: ignore[arg-type]
            pass
    assert threading.active_count() == threads


def test_hasher_rejects_wrong_size() -> None:
    h = Hasher(size=2)
    with pytest.raises(ValueError):
        h.update(b"abc")
    short = Hasher(size=5)
    short.update(b"ab")
    with pytest.raises(ValueError):
        short.git_sha1()
