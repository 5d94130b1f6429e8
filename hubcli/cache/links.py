"""Where a cache entry may point: the one rule the scan, verify, export, import and repair share.

A snapshot entry ``<repo>/snapshots/<commit>/<path>`` is either a regular file (a cache written
without symlinks) or a symlink whose first hop is ``../../blobs/<etag>`` of its own repo. The repo
blob ``<repo>/blobs/<etag>`` is a regular file, or a symlink whose every further hop stays inside
an *allowed root*: huggingface_hub's cache-wide shared blob store (``<cache>/blobs/`` carrying the
``.huggingface-shared-blobs`` marker, entries ``<2 hex>/<64 hex>``) or a configured read-only tier.
Anything else is corruption: the scan marks it, verify reports it, export refuses it, repair
relinks it. Paths are compared after ``realpath`` of the folders they sit in, so a folder symlink
cannot smuggle a hop out.
"""

from __future__ import annotations

import os
import re
import stat as stat_mod
from collections.abc import Iterable
from dataclasses import dataclass

SHARED_STORE_DIR = "blobs"
SHARED_STORE_MARKER = ".huggingface-shared-blobs"
SHARED_STORE_LAYOUT = "1\n"
MAX_HOPS = 8
_STORE_ENTRY = re.compile(r"^([0-9a-f]{2})/(\1[0-9a-f]{62})$")


def shared_store(cache_dir: str | os.PathLike[str]) -> str | None:
    """The real path of ``<cache>/blobs`` when it is huggingface_hub's marked shared store.

    The same test huggingface_hub applies: a real folder (not a link) holding a regular marker
    file whose content is exactly the layout version line."""
    store = os.path.join(os.fspath(cache_dir), SHARED_STORE_DIR)
    marker = os.path.join(store, SHARED_STORE_MARKER)
    try:
        if not stat_mod.S_ISDIR(os.lstat(store).st_mode):
            return None
        if not stat_mod.S_ISREG(os.lstat(marker).st_mode):
            return None
        with open(marker, "rb") as fh:
            if fh.read(16) != SHARED_STORE_LAYOUT.encode():
                return None
    except OSError:
        return None
    return os.path.realpath(store)


@dataclass(frozen=True)
class LinkRoots:
    """Where a repo blob's further hops may end: the shared store and read-only tiers."""

    cache: str
    store: str | None = None
    tiers: tuple[str, ...] = ()

    @classmethod
    def for_cache(
        cls, cache_dir: str | os.PathLike[str], tiers: Iterable[str | os.PathLike[str]] = ()
    ) -> LinkRoots:
        return cls(
            cache=os.path.realpath(os.fspath(cache_dir)),
            store=shared_store(cache_dir),
            tiers=tuple(os.path.realpath(os.fspath(t)) for t in tiers),
        )

    def root_of(self, path: str) -> str | None:
        """The allowed root ``path`` (absolute, normalized) lies under, or None."""
        for root in (self.store, *self.tiers):
            if root is not None and _under(path, root):
                return root
        return None


def _under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def _is_store_entry(path: str, store: str) -> bool:
    rel = os.path.relpath(path, store).replace(os.sep, "/")
    return _STORE_ENTRY.match(rel) is not None


@dataclass(frozen=True)
class BlobState:
    """``ok`` (readable content where the rule allows), ``missing`` (a link that dangles inside
    the allowed places) or ``bad`` (anything else; ``detail`` says why)."""

    status: str
    detail: str = ""
    target: str | None = None  # the regular file holding the bytes, when ok

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _bad(detail: str) -> BlobState:
    return BlobState("bad", detail)


def check_blob(blob_path: str | os.PathLike[str], roots: LinkRoots) -> BlobState:
    """Check a repo blob ``<repo>/blobs/<etag>`` and the links it may go through."""
    cur = os.fspath(blob_path)
    for hop in range(MAX_HOPS + 1):
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return BlobState("missing", "the blob is not there")
        except OSError as exc:
            return _bad(f"cannot read {cur}: {exc.strerror or exc}")
        if stat_mod.S_ISREG(st.st_mode):
            return _final(cur, hop, roots)
        if not stat_mod.S_ISLNK(st.st_mode):
            return _bad("the blob is not a regular file")
        try:
            target = os.readlink(cur)
        except OSError as exc:
            return _bad(f"cannot read link {cur}: {exc.strerror or exc}")
        nxt = os.path.normpath(os.path.join(os.path.realpath(os.path.dirname(cur)), target))
        if roots.root_of(nxt) is None:
            return _bad(f"the blob links outside the cache's blob stores (to {target[:200]!r})")
        cur = nxt
    return _bad("too many links")


def _final(path: str, hops: int, roots: LinkRoots) -> BlobState:
    if hops == 0:
        return BlobState("ok", target=path)
    real = os.path.realpath(path)
    root = roots.root_of(real)
    if root is None:
        return _bad(f"the blob resolves outside the cache's blob stores ({real[:200]!r})")
    if root == roots.store and not _is_store_entry(real, root):
        return _bad(
            f"the blob resolves to a file that is not a shared-store entry ({real[:200]!r})"
        )
    return BlobState("ok", target=real)


def first_hop(entry: str, repo_blobs: str) -> str | None:
    """The blob name a snapshot symlink names when its target is a file directly in its own
    repo's ``blobs/`` folder (relative, or absolute to the same place); None otherwise."""
    try:
        target = os.readlink(entry)
    except OSError:
        return None
    full = os.path.normpath(os.path.join(os.path.dirname(entry), target))
    name = os.path.basename(full)
    if not name or name.startswith("."):
        return None
    parent = os.path.dirname(full)
    if parent == os.path.normpath(repo_blobs):
        return name
    if os.path.isabs(target) and parent == os.path.realpath(repo_blobs):
        return name
    return None


def blob_dir_problem(
    repo_blobs: str | os.PathLike[str], repo: str | os.PathLike[str]
) -> str | None:
    """Why a repo's ``blobs/`` folder itself cannot be trusted (a link elsewhere), or None."""
    try:
        st = os.lstat(repo_blobs)
    except OSError:
        return None
    if stat_mod.S_ISLNK(st.st_mode):
        return "the repo's blobs folder is a link"
    if os.path.realpath(repo_blobs) != os.path.join(os.path.realpath(repo), "blobs"):
        return "the repo's blobs folder resolves elsewhere"
    return None


def is_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when ``path`` resolves (all links followed) under ``root`` (also resolved)."""
    return _under(os.path.realpath(os.fspath(path)), os.path.realpath(os.fspath(root)))
