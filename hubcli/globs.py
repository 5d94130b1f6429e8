"""Include/exclude globs: the pattern language of huggingface_hub's ``filter_repo_objects``.

A pattern is an ``fnmatch`` glob matched against the whole repo path (``a/b/c.bin``), case by
case (``*`` also crosses ``/``, ``?`` is one character, ``[...]`` a set); a pattern ending in ``/``
means everything under that folder (``data/`` is ``data/*``). Download (``--include``/
``--exclude``) and upload (``--include``/``--exclude``/``--delete``) both use this module.

One difference from huggingface_hub, on purpose: an empty pattern list means "no filter" (the
CLI cannot tell ``--include`` given zero times from an empty list), not "match nothing".
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def normalize(pattern: str) -> str:
    """``data/`` -> ``data/*``; any other pattern unchanged."""
    return pattern + "*" if pattern.endswith("/") else pattern


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether ``path`` matches at least one of ``patterns``."""
    return any(fnmatch.fnmatchcase(path, normalize(p)) for p in patterns)


def wanted(path: str, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> bool:
    """Kept by the filter: matches an ``include`` pattern (if any) and no ``exclude`` pattern."""
    if include and not matches(path, include):
        return False
    return not (exclude and matches(path, exclude))


def filter_paths(
    items: Iterable[T],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    key: Callable[[T], str],
) -> list[T]:
    """The ``items`` whose ``key(item)`` path passes :func:`wanted`, in their order."""
    return [item for item in items if wanted(key(item), include, exclude)]
