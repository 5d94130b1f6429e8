"""FlockLock: the blob lock, interoperable with filelock (huggingface_hub's) on one file."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from hubcli.cache.locks import FlockLock, LockTimeout

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

HOLD = """
import sys, time
from filelock import FileLock
with FileLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_excludes_a_filelock_holder_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), "0.6"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    with pytest.raises(LockTimeout) as info:
        FlockLock(path, timeout=0).acquire()
    assert isinstance(info.value, TimeoutError)
    start = time.monotonic()
    with FlockLock(path):  # blocks until the other process lets go
        waited = time.monotonic() - start
    proc.wait()
    assert waited > 0.2


def test_filelock_waits_for_us(tmp_path: Path) -> None:
    path = tmp_path / "y.lock"
    with FlockLock(path), pytest.raises(TimeoutError):
        FileLock(str(path), timeout=0.1).acquire()
    with FileLock(str(path), timeout=0):
        pass
    assert path.exists()  # never removed on release: waiters share the inode


def test_threads_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "t.lock"
    inside = 0
    worst = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, worst
        for _ in range(50):
            with FlockLock(path):
                with guard:
                    inside += 1
                    worst = max(worst, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert worst == 1


def test_timeout_polls_until_free(tmp_path: Path) -> None:
    path = tmp_path / "p.lock"
    holder = FlockLock(path).acquire()
    threading.Timer(0.2, holder.release).start()
    with FlockLock(path, timeout=5) as lock:
        assert lock.is_locked
    with pytest.raises(LockTimeout), FlockLock(path):
        FlockLock(path, timeout=0.1).acquire()


def test_lock_file_unlinked_while_waiting_locks_the_new_file(tmp_path: Path) -> None:
    """`hf cache rm` may delete a lock file while we wait on it: we must not end up holding a lock
    on an orphaned inode while someone else locks the new file at that name."""
    path = tmp_path / "u.lock"
    holder = FlockLock(path).acquire()
    got = threading.Event()

    def waiter() -> None:
        with FlockLock(path):
            got.set()
            time.sleep(0.3)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    path.unlink()
    holder.release()  # the waiter wakes on the old inode, sees the name gone, and starts again
    assert got.wait(5)
    assert path.exists()
    with pytest.raises(LockTimeout):
        FlockLock(path, timeout=0).acquire()  # the waiter holds the file now at that name
    t.join()


def test_mode_honours_umask_and_never_follows_a_link(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        with FlockLock(tmp_path / "m.lock"):
            pass
    finally:
        os.umask(old)
    assert (tmp_path / "m.lock").stat().st_mode & 0o777 == 0o664
    target = tmp_path / "victim"
    target.write_text("keep")
    os.symlink(target, tmp_path / "evil.lock")
    with pytest.raises(OSError):
        FlockLock(tmp_path / "evil.lock").acquire()
    assert target.read_text() == "keep"
