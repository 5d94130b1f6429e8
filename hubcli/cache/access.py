"""When each cached revision was last used, as hubcli records it (atime is unreliable).

Under ``relatime`` or ``noatime`` a blob's access time says little, so hubcli keeps its own record:
an empty file ``<cache>/.locks/<repo folder>/access/<commit>`` whose modification time is the
last time a download, a sync or a cached hit used that revision. It lives under ``.locks/``, the
one folder of the cache every Hugging Face tool skips (``hf cache ls`` and ``scan_cache_dir`` never
see it, ``hf cache rm`` never removes it), and it is created group-writable (0o664 minus the
umask) like the lock files, so users of one group share the record.

A revision without a record (filled by huggingface_hub or an older hubcli) falls back to the
newest access or modification time of its blobs, the best the filesystem can tell.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hubcli.repo import RepoRef, repo_folder_name

ACCESS_DIR = "access"
_MODE = 0o664


def access_dir(cache_dir: str | os.PathLike[str], folder: str) -> str:
    return os.path.join(os.fspath(cache_dir), ".locks", folder, ACCESS_DIR)


def touch_access(cache_dir: str | os.PathLike[str], ref: RepoRef, commit: str) -> None:
    """Record that ``commit`` of ``ref`` was used now (best effort: never fails a download)."""
    if len(commit) != 40 or not all(c in "0123456789abcdef" for c in commit):
        return
    folder = repo_folder_name(ref.repo_id, ref.repo_type)
    directory = access_dir(cache_dir, folder)
    path = os.path.join(directory, commit)
    with contextlib.suppress(OSError):
        try:
            os.utime(path, None)
            return
        except FileNotFoundError:
            pass
        Path(directory).mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, _MODE)
        os.close(fd)
        os.utime(path, None)


def read_access(cache_dir: str | os.PathLike[str], folder: str) -> dict[str, float]:
    """``{commit: last access}`` recorded for one repo folder (empty when none)."""
    out: dict[str, float] = {}
    try:
        it = os.scandir(access_dir(cache_dir, folder))
    except OSError:
        return out
    with it:
        for entry in it:
            with contextlib.suppress(OSError):
                out[entry.name] = entry.stat(follow_symlinks=False).st_mtime
    return out


def forget_access(cache_dir: str | os.PathLike[str], folder: str, commit: str) -> None:
    """Drop the record of a revision that was removed."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(access_dir(cache_dir, folder), commit))
