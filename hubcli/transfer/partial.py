"""Partial files: their names, the ``.ranges.incomplete`` state file, disk errors, O_NOFOLLOW.

A partial is where a file's bytes are written before they are verified and moved into place:
``<name>.incomplete`` (deterministic, so a later run resumes it under the caller's lock), or
``<name>.<random>.incomplete`` when partials are process-unique (network filesystems, see
:mod:`hubcli.fsinfo`). It is always opened with ``O_NOFOLLOW``: a link planted at its name is
refused (UnsafePathError, exit 6), never written through.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from hubcli.errors import IntegrityError, LocalFileError, UnsafePathError
from hubcli.hashing import ContentHasher

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a link planted at a partial's name is never followed
INCOMPLETE = ".incomplete"
STATE_VERSION = 1


def partial_name(tmp: Path, *, unique: bool) -> Path:
    """``tmp`` (a ``*.incomplete`` name) as is, or made process-unique with a random infix."""
    if not unique:
        return tmp
    return tmp.with_name(tmp.name.replace(INCOMPLETE, f".{os.urandom(4).hex()}{INCOMPLETE}"))


def state_path_for(tmp: Path) -> Path:
    """The ranged-download state file that goes with a temp file (also ``*.incomplete``)."""
    name = tmp.name[: -len(INCOMPLETE)] if tmp.name.endswith(INCOMPLETE) else tmp.name
    return tmp.with_name(f"{name}.ranges{INCOMPLETE}")


def discard_partial(tmp: Path) -> None:
    """Delete a temp file and its ranged state (state first, so a leftover is never misread)."""
    for p in (state_path_for(tmp), tmp):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def disk_error(path: Path, exc: OSError) -> LocalFileError | UnsafePathError:
    """The HubError for a failed write of ``path``: a planted link, a full disk, or else."""
    if exc.errno == errno.ELOOP:
        return UnsafePathError(
            f"Refusing to write through a symbolic link at {path}.",
            hint="Something planted a link where a partial download belongs; remove it.",
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return LocalFileError(
            f"Disk full while writing {path} ({exc.strerror}).",
            hint="Free some space (or use --cache-dir elsewhere) and rerun: the download resumes.",
        )
    return LocalFileError(f"Cannot write {path}: {exc.strerror or exc}.")


def open_partial(tmp: Path, flags: int) -> int:
    """``os.open`` a partial with ``O_NOFOLLOW``; a failure is raised as :func:`disk_error`."""
    try:
        return os.open(tmp, flags | O_NOFOLLOW, 0o666)
    except OSError as exc:
        raise disk_error(tmp, exc) from exc


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite`` may write less than asked)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def verify_or_discard(tmp: Path, hasher: ContentHasher, size: int, label: str) -> None:
    """Keep ``tmp`` only when it has ``size`` bytes hashing to the etag; else delete it and raise
    IntegrityError."""
    actual = os.path.getsize(tmp)
    if actual != size or not hasher.matches():
        discard_partial(tmp)
        what = (
            f"size {actual} instead of {size}"
            if actual != size
            else f"{hasher.algorithm} {hasher.hexdigest()} instead of {hasher.etag}"
        )
        raise IntegrityError(
            f"{label}: downloaded content does not match its etag ({what}); "
            "the bad bytes were deleted.",
            hint="Rerun to fetch it again; if it persists, the server or a proxy corrupts it.",
        )


# -- the ranged state file -----------------------------------------------------------------------
def load_range_state(tmp: Path, *, size: int, etag: str, part_size: int) -> list[int] | None:
    """Bytes done per part, from ``tmp``'s state file, when it describes this very download
    (a run with another part size: what its parts say is contiguous); else None."""
    try:
        doc = json.loads(state_path_for(tmp).read_text(encoding="utf-8"))
        if (
            doc.get("version") == STATE_VERSION
            and doc.get("etag") == etag
            and doc.get("size") == size
            and doc.get("part_size") == part_size
            and os.path.getsize(tmp) == size
        ):
            done = [int(x) for x in doc["done"]]
            nparts = -(-size // part_size)
            if len(done) == nparts and all(
                0 <= d <= min(part_size, size - i * part_size) for i, d in enumerate(done)
            ):
                return done
        if doc.get("part_size") != part_size and doc.get("size") == size:
            # A run with another part size: reuse what its parts say is contiguous.
            return _rechunk(doc, size, part_size)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _rechunk(doc: dict[str, Any], size: int, part_size: int) -> list[int] | None:
    try:
        old_ps = int(doc["part_size"])
        old = [int(x) for x in doc["done"]]
    except (KeyError, TypeError, ValueError):
        return None
    spans = [(i * old_ps, i * old_ps + d) for i, d in enumerate(old)]
    nparts = -(-size // part_size)
    done = []
    for p in range(nparts):
        start = p * part_size
        end = min(size, start + part_size)
        reach = start
        for s, e in spans:
            if s <= reach < e:
                reach = min(end, e)
        done.append(reach - start)
    return done


def save_range_state(tmp: Path, *, etag: str, size: int, part_size: int, done: list[int]) -> None:
    """Rewrite ``tmp``'s state file atomically (a failure to write it is not an error)."""
    doc = {
        "version": STATE_VERSION,
        "etag": etag,
        "size": size,
        "part_size": part_size,
        "done": done,
    }
    state = state_path_for(tmp)
    scratch = state.with_name(f"{state.name[: -len(INCOMPLETE)]}.{os.urandom(4).hex()}{INCOMPLETE}")
    try:
        scratch.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(scratch, state)
    except OSError:
        with contextlib.suppress(OSError):
            scratch.unlink()
