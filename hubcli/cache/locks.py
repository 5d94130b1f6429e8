"""Lock files: the same ``flock`` huggingface_hub (through ``filelock``) takes, at ~1/20 the cost.

A download takes one lock per blob; with thousands of small files the lock is a real part of the
time (``filelock`` costs about 0.2-0.3 ms and four opens per acquisition, a bare ``flock`` about
0.01 ms and one open). :class:`FlockLock` is that bare ``flock``, compatible with the locks of
huggingface_hub and of older hubcli versions on the same file: both are ``flock`` on the same
path, the file is never removed on release (waiters must share the inode), and an acquisition
that raced with someone unlinking the file (``hf cache rm``) starts again on the new inode.

Where the filesystem has no ``flock`` (ENOSYS/EOPNOTSUPP, seen on some network filesystems),
the lock hands over to ``filelock`` and its soft-lock fallback.

A busy lock that outlasts ``timeout`` raises :class:`LockTimeout`, a :class:`TimeoutError` (as
``filelock.Timeout`` is, so callers catch ``TimeoutError`` for either).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_MODE = 0o664  # group-writable (the umask still applies): users of one group share locks
_POLL = 0.05
_NO_FLOCK = frozenset({errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK})
_BUSY = frozenset({errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK})


class LockTimeout(TimeoutError):
    """The lock was held by someone else for longer than the timeout."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(f"The lock {path} is held by another process.")
        self.lock_file = str(path)


class FlockLock:
    """An exclusive ``flock`` on ``path`` (a context manager; not re-entrant).

    ``timeout``: -1 waits for ever, 0 tries once, a positive number polls until then. The lock
    file is created with mode 0o664 (minus the umask) and opened without following a link.
    """

    def __init__(self, path: Path | str, *, timeout: float = -1) -> None:
        self.lock_file = str(path)
        self.timeout = timeout
        self._fd = -1
        self._fallback: Any = None

    @property
    def is_locked(self) -> bool:
        return self._fd >= 0 or self._fallback is not None

    def acquire(self) -> FlockLock:
        if self.is_locked:
            raise RuntimeError(f"{self.lock_file} is already held by this object.")
        if fcntl is None:  # pragma: no cover - Windows
            return self._acquire_fallback()
        deadline = None if self.timeout < 0 else time.monotonic() + self.timeout
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        while True:
            fd = self._open(flags)
            try:
                got = self._try_flock(fd, blocking=deadline is None)
            except OSError as exc:
                os.close(fd)
                if exc.errno in _NO_FLOCK:
                    return self._acquire_fallback()
                raise
            if got:
                if self._same_inode(fd):
                    self._fd = fd
                    return self
                os.close(fd)  # unlinked or replaced while we waited: lock the file now there
                continue
            os.close(fd)
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout(self.lock_file)
            time.sleep(_POLL)

    def _open(self, flags: int) -> int:
        """Open (creating) the lock file for writing; an existing one this user may only read
        (another user's, made under a umask that left it 0o644) is opened read-only: ``flock``
        needs no write access, so users still wait on each other instead of failing."""
        try:
            return os.open(self.lock_file, flags, LOCK_MODE)
        except PermissionError:
            ro = (flags & ~(os.O_RDWR | os.O_CREAT)) | os.O_RDONLY
            try:
                return os.open(self.lock_file, ro)
            except OSError:
                pass
            raise

    @staticmethod
    def _try_flock(fd: int, *, blocking: bool) -> bool:
        assert fcntl is not None
        if blocking:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _BUSY:
                return False
            raise
        return True

    def _same_inode(self, fd: int) -> bool:
        try:
            st = os.stat(self.lock_file, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def _acquire_fallback(self) -> FlockLock:
        from filelock import FileLock, Timeout

        lock = FileLock(self.lock_file, timeout=self.timeout, mode=LOCK_MODE)
        try:
            lock.acquire()
        except Timeout:
            raise LockTimeout(self.lock_file) from None
        self._fallback = lock
        return self

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        elif self._fallback is not None:
            lock, self._fallback = self._fallback, None
            lock.release()

    def __enter__(self) -> FlockLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
