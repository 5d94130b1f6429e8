"""The byte mover: one remote file into a verified partial file on disk, and then into place.

Imports flow one way: ``job`` (FetchJob, sizes) ← ``partial`` (names, state file, disk errors,
O_NOFOLLOW) ← ``stream`` (opening through the mirror order, the copy loop) ← ``sequential`` ←
``ranged`` ← ``engine`` (:class:`Transfer`); ``placement`` (lock → partial → fill → replace) sits
on ``partial``. A resumed partial is hashed before more bytes are added; the content is checked
against its etag (:mod:`hubcli.hashing`) before anyone may move it into place.
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy re-exports: importing ``hubcli.transfer.placement`` (the cache's blob placement) must not
# pull in the engine and the HTTP stack.
_EXPORTS = {
    "Transfer": "engine",
    "DEFAULT_RANGE_THRESHOLD": "job",
    "Cancelled": "job",
    "FetchJob": "job",
    "FetchResult": "job",
    "discard_partial": "partial",
    "partial_name": "partial",
    "state_path_for": "partial",
    "BlobSlot": "placement",
    "link_or_copy": "placement",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hubcli.transfer' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hubcli.transfer.{module}"), name)
