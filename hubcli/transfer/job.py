"""One fetch: the frozen :class:`FetchJob` both fetch paths take, what it cost, and the sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
READ_SIZE = 256 * 1024  # per read; 1 MiB buffers in up to 32 streams cost ~25 MiB of RSS
DEFAULT_RANGE_THRESHOLD = 16 * MiB
MIN_PART_SIZE = 2 * MiB
MAX_PART_SIZE = 64 * MiB
PARTS_PER_FILE = 64
STATE_SAVE_INTERVAL = 0.5


def auto_part_size(size: int) -> int:
    """Parts for a ranged download of ``size`` bytes: about :data:`PARTS_PER_FILE` of them (twice
    the most streams one file may run, so every stream has work and the tail is short), whole MiB,
    from 2 to 64 MiB each. Depends on the size alone, so a resumed download cuts the same parts."""
    part = -(-size // PARTS_PER_FILE)
    part = -(-part // MiB) * MiB
    return max(MIN_PART_SIZE, min(MAX_PART_SIZE, part))


class Cancelled(Exception):
    """The transfer was cancelled (Ctrl-C in another thread); partial bytes are kept."""


@dataclass(frozen=True)
class FetchJob:
    """One remote file to fetch into a partial file and verify.

    ``target`` is a relative resolve path (tried against each mirror base) or an absolute URL;
    ``tmp`` the partial file; ``size`` and ``etag`` what the listing promises; ``key`` names the
    file for progress; ``label`` names it in messages.
    """

    target: str
    tmp: Path
    size: int
    etag: str
    key: str
    label: str


@dataclass
class FetchResult:
    """What one fetch cost: bytes over the network, bytes reused from disk, who served."""

    fetched_bytes: int = 0
    reused_bytes: int = 0
    ranged: bool = False
    served_by: str | None = None
