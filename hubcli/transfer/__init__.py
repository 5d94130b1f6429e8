"""The byte mover: one remote file into a verified partial file on disk, and then into place.

Imports flow one way: ``job`` (FetchJob, sizes) ← ``partial`` (names, state file, disk errors,
O_NOFOLLOW) ← ``stream`` (opening through the mirror order, the copy loop) ← ``sequential`` ←
``ranged`` ← ``engine`` (:class:`Transfer`); ``placement`` (lock → partial → fill → replace) sits
on ``partial``. A resumed partial is hashed before more bytes are added; the content is checked
against its etag (:mod:`hubcli.hashing`) before anyone may move it into place.
"""

from hubcli.transfer.engine import Transfer
from hubcli.transfer.job import (
    DEFAULT_PART_SIZE,
    DEFAULT_RANGE_THRESHOLD,
    DEFAULT_RANGE_WORKERS,
    Cancelled,
    FetchJob,
    FetchResult,
)
from hubcli.transfer.partial import discard_partial, partial_name, state_path_for
from hubcli.transfer.placement import BlobSlot, link_or_copy

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_RANGE_THRESHOLD",
    "DEFAULT_RANGE_WORKERS",
    "BlobSlot",
    "Cancelled",
    "FetchJob",
    "FetchResult",
    "Transfer",
    "discard_partial",
    "link_or_copy",
    "partial_name",
    "state_path_for",
]
