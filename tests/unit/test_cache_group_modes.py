"""Group-safe shared caches without other users: what hubcli creates honours the umask, keeps a
setgid folder's group bit, and lock files fall back to a read-only open (``flock`` needs no
write access) when another user's lock file is not writable to us. The two-user scenario is
tests/e2e/test_cache_group.py."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubcli.cache import locks
from hubcli.cache.access import touch_access
from hubcli.cache.layout import RepoCache
from hubcli.cache.locks import FlockLock
from hubcli.repo import RepoRef

REF = RepoRef("alice/m", "model")


@pytest.fixture
def umask_002() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def test_created_entries_are_group_shared_and_keep_setgid(tmp_path: Path, umask_002: None) -> None:
    cache = tmp_path / "shared"
    cache.mkdir()
    os.chmod(cache, 0o2775)
    rc = RepoCache(cache, REF)
    rc.ensure_dirs()
    (rc.blobs_dir / ("a" * 40)).write_bytes(b"x")
    rc.link_snapshot("c" * 40, "sub/f.txt", "a" * 40)
    rc.write_ref("main", "c" * 40)
    rc.mark_missing("c" * 40, "gone.txt")
    with rc.lock("a" * 40):
        pass
    touch_access(cache, REF, "c" * 40)
    for dirpath, _dirs, files in os.walk(cache):
        mode = os.stat(dirpath).st_mode
        assert mode & stat.S_ISGID, f"{dirpath} lost the setgid bit"
        assert stat.S_IMODE(mode) & 0o777 == 0o775, (dirpath, oct(mode))
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISLNK(st.st_mode):
                assert stat.S_IMODE(st.st_mode) & 0o060 == 0o060, (name, oct(st.st_mode))


def test_lock_opens_read_only_when_the_file_is_not_writable_to_us(
    tmp_path: Path, monkeypatch: Any
) -> None:
    path = tmp_path / "x.lock"
    path.write_text("")
    real_open = os.open
    modes: list[int] = []

    def fake_open(p: Any, flags: int, *args: Any) -> int:
        modes.append(flags & (os.O_RDWR | os.O_WRONLY))
        if flags & os.O_RDWR:
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_open(p, flags, *args)

    monkeypatch.setattr(locks.os, "open", fake_open)
    with FlockLock(path, timeout=0) as held:
        assert held.is_locked
    assert modes == [os.O_RDWR, 0]
