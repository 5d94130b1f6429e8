"""HashCache: remembered hashes are only trusted for an unchanged, non-racy file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hubcli.upload.hash_cache import HashCache

SHA256 = "a" * 64
SHA1 = "b" * 40


def _old_file(path: Path, data: bytes) -> os.stat_result:
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path.stat()


def test_round_trip_for_an_unchanged_old_file(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "c", min_size=10)
    f = tmp_path / "w.bin"
    st = _old_file(f, b"x" * 100)
    cache.put(f, st, f.stat(), SHA256, SHA1, started=time.time())
    assert cache.get(f, f.stat(), need_sha1=True) == (SHA256, SHA1)
    assert HashCache(tmp_path / "c", min_size=10).get(f, f.stat(), need_sha1=False) is not None


def test_any_change_to_the_file_invalidates(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "c", min_size=10)
    f = tmp_path / "w.bin"
    st = _old_file(f, b"x" * 100)
    cache.put(f, st, st, SHA256, SHA1, started=time.time())
    with f.open("r+b") as fh:  # same size, content changed; then the old mtime put back
        fh.write(b"y")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
    assert cache.get(f, f.stat(), need_sha1=False) is None  # ctime moved on


def test_racy_small_and_changing_files_are_not_remembered(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "c", min_size=10)
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"x" * 100)  # modified just now: a same-tick write could go unseen
    st = fresh.stat()
    cache.put(fresh, st, st, SHA256, None, started=time.time())
    assert cache.get(fresh, st, need_sha1=False) is None
    small = tmp_path / "small.bin"
    st = _old_file(small, b"x" * 5)
    cache.put(small, st, st, SHA256, None, started=time.time())
    assert cache.get(small, st, need_sha1=False) is None and not (tmp_path / "c").exists()
    moving = tmp_path / "moving.bin"
    before = _old_file(moving, b"x" * 100)
    after = _old_file(moving, b"x" * 101)  # grew while being hashed
    cache.put(moving, before, after, SHA256, None, started=time.time())
    assert cache.get(moving, after, need_sha1=False) is None


def test_missing_sha1_broken_and_foreign_entries_are_misses(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "c", min_size=10)
    f = tmp_path / "w.bin"
    st = _old_file(f, b"x" * 100)
    cache.put(f, st, st, SHA256, None, started=time.time())
    assert cache.get(f, st, need_sha1=False) == (SHA256, None)
    assert cache.get(f, st, need_sha1=True) is None
    (entry,) = (tmp_path / "c").iterdir()
    entry.write_text("{not json")
    assert cache.get(f, st, need_sha1=False) is None
    entry.write_text('{"path": "/elsewhere", "stat": [], "sha256": "' + SHA256 + '"}')
    assert cache.get(f, st, need_sha1=False) is None
    assert HashCache(None).get(f, st, need_sha1=False) is None
