"""Discovery: search hits, the sort/filter vocabulary of listings, and where a repo card comes from.

Library side of ``hubcli search|info|files|card``: no printing. The card is read from the cache when
offline (or when the Hub cannot be reached) and through the resolve URL otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import (
    IntegrityError,
    NetworkError,
    OfflineError,
    UnsafePathError,
    UsageError,
)

if TYPE_CHECKING:
    from hubcli.client import HubClient
    from hubcli.config import Settings
    from hubcli.http import HubSession
    from hubcli.models import FileEntry
    from hubcli.repo import RepoRef

SORT_KEYS: dict[str, str] = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trendingScore",
    "created": "createdAt",
    "modified": "lastModified",
}
"""CLI sort names -> the Hub's ``sort=`` values."""

# Fields asked for with ``expand=`` so that every hit has lastModified and friends (the Hub's
# default listing fields lack it). Only values huggingface_hub 2.4.0 knows to be valid per type.
_COMMON_EXPAND = (
    "author",
    "createdAt",
    "lastModified",
    "likes",
    "private",
    "tags",
    "trendingScore",
)
SEARCH_EXPAND: dict[str, tuple[str, ...]] = {
    "model": (
        *_COMMON_EXPAND,
        "downloads",
        "gated",
        "library_name",
        "pipeline_tag",
        "usedStorage",
    ),
    "dataset": (*_COMMON_EXPAND, "downloads", "gated", "usedStorage"),
    "space": (*_COMMON_EXPAND, "sdk", "usedStorage"),
}

README = "README.md"
MAX_CARD_BYTES = 32 * 1024 * 1024
"""A README is read up to this size; beyond it the card is truncated (with a warning)."""


@dataclass(frozen=True)
class SearchHit:
    """One search result, normalised across repo types. ``raw`` keeps every field sent."""

    id: str
    type: str
    author: str | None = None
    downloads: int | None = None
    likes: int | None = None
    last_modified: str | None = None
    created_at: str | None = None
    tags: tuple[str, ...] = ()
    task: str | None = None
    library: str | None = None
    sdk: str | None = None
    private: bool | None = None
    gated: Any = None
    size: int | None = None
    trending: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind(self) -> str | None:
        """What the table's 'task' column shows: pipeline tag, space sdk, or dataset task."""
        if self.task:
            return self.task
        if self.sdk:
            return self.sdk
        for tag in self.tags:
            if tag.startswith("task_categories:"):
                return tag.split(":", 1)[1]
        return None

    @classmethod
    def from_item(cls, item: dict[str, Any], repo_type: str) -> SearchHit:
        tags = item.get("tags")
        return cls(
            id=str(item.get("id") or item.get("modelId") or ""),
            type=repo_type,
            author=_str_or_none(item.get("author")),
            downloads=_int_or_none(item.get("downloads")),
            likes=_int_or_none(item.get("likes")),
            last_modified=_str_or_none(item.get("lastModified")),
            created_at=_str_or_none(item.get("createdAt")),
            tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
            task=_str_or_none(item.get("pipeline_tag")),
            library=_str_or_none(item.get("library_name")),
            sdk=_str_or_none(item.get("sdk")),
            private=item.get("private") if isinstance(item.get("private"), bool) else None,
            gated=item.get("gated"),
            size=_int_or_none(item.get("usedStorage")),
            trending=_float_or_none(item.get("trendingScore")),
            raw=item,
        )

    def to_json(self) -> dict[str, Any]:
        """Exact values for ``--json`` (huggingface_hub's ``ModelInfo`` field names): id,
        repo_type, downloads, likes, last_modified, tags, and more."""
        return {
            "id": self.id,
            "repo_type": self.type,
            "author": self.author,
            "downloads": self.downloads,
            "likes": self.likes,
            "last_modified": self.last_modified,
            "created_at": self.created_at,
            "tags": list(self.tags),
            "pipeline_tag": self.task,
            "library_name": self.library,
            "sdk": self.sdk,
            "private": self.private,
            "gated": self.gated,
            "used_storage": self.size,
            "trending_score": self.trending,
        }


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def search(
    client: HubClient,
    *,
    repo_type: str = "model",
    query: str | None = None,
    author: str | None = None,
    filters: tuple[str, ...] | list[str] = (),
    task: str | None = None,
    library: str | None = None,
    sort: str | None = None,
    ascending: bool = False,
    limit: int = 20,
    expand: bool = True,
    models: tuple[str, ...] | list[str] = (),
) -> Iterator[SearchHit]:
    """Search the Hub lazily: pages are fetched as the caller iterates. ``limit=0`` means all.

    ``sort`` is a CLI name (see :data:`SORT_KEYS`); the Hub's default order for a sort is
    descending, so ``direction`` is only sent for ``ascending=True``. Raises UsageError for
    combinations the Hub does not support, and HubError subclasses from the session.
    """
    if limit < 0:
        raise UsageError("--limit must be 0 (all) or a positive number.")
    sort_key: str | None = None
    if sort:
        if sort not in SORT_KEYS:
            raise UsageError(f"Unknown sort {sort!r}: use one of {', '.join(SORT_KEYS)}.")
        if sort == "downloads" and repo_type == "space":
            raise UsageError("Spaces cannot be sorted by downloads: use likes or trending.")
        sort_key = SORT_KEYS[sort]
    elif ascending:
        raise UsageError("--asc needs --sort.")
    if task and repo_type != "model":
        raise UsageError("--task applies to models; for datasets use --filter task_categories:X.")
    if models and repo_type != "space":
        raise UsageError("--model applies to Spaces: add --type space.")
    all_filters = [*filters]
    if library:
        all_filters.append(library)
    items = client.list_repos(
        repo_type,
        search=query or None,
        author=author or None,
        filters=all_filters,
        pipeline_tag=task or None,
        sort=sort_key,
        direction=1 if ascending else None,
        limit=limit,
        expand=SEARCH_EXPAND.get(repo_type, ()) if expand else (),
        models=tuple(models),
    )
    for item in items:
        if isinstance(item, dict) and (item.get("id") or item.get("modelId")):
            yield SearchHit.from_item(item, repo_type)


def spaces_using(client: HubClient, model_id: str, info: dict[str, Any]) -> list[str]:
    """Ids of the Spaces using ``model_id``: the model info's ``spaces`` when it lists some, else
    one listing request (``GET /api/spaces?models=ID``, as servers without that field answer)."""
    listed = info.get("spaces")
    if isinstance(listed, list) and listed:
        return [str(s) for s in listed if isinstance(s, str) and s]
    items = client.list_repos("space", models=[model_id], limit=1000, expand=("author",))
    return [str(item["id"]) for item in items if isinstance(item, dict) and item.get("id")]


# -- files --------------------------------------------------------------------------------------
def total_size(files: tuple[FileEntry, ...] | list[FileEntry]) -> int:
    return sum(f.size for f in files)


def cached_paths(
    cache_dir: Path, ref: RepoRef, commit: str | None, files: list[FileEntry]
) -> set[str]:
    """Paths of ``files`` already in the local cache (in the snapshot, or as a blob by etag)."""
    from hubcli.cache.layout import RepoCache

    repo = RepoCache(cache_dir, ref)
    if not repo.path.is_dir():
        return set()
    found: set[str] = set()
    for entry in files:
        try:
            in_snapshot = bool(commit) and repo.snapshot_has(str(commit), entry.path)
            if in_snapshot or (entry.etag and repo.blob_path(entry.etag).is_file()):
                found.add(entry.path)
        except (UnsafePathError, OSError):
            continue
    return found


# -- cards --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardSource:
    """A README's text and where it came from (``hub`` or ``cache``); ``text`` None = no README."""

    text: str | None
    origin: str
    commit: str | None = None
    truncated: bool = False
    path: Path | None = None


def cached_card(cache_dir: Path, ref: RepoRef, revision: str) -> CardSource | None:
    """The README of ``revision`` from the cache alone, or None when the cache cannot tell.

    A ``.no_exist`` marker (the Hub said the file is absent at that commit) gives ``text=None``.
    """
    from hubcli.cache.layout import RepoCache

    repo = RepoCache(cache_dir, ref)
    try:
        commit = repo.resolve_offline(revision)
        if not commit:
            return None
        path = repo.snapshot_file(commit, README)
        if path.is_file():
            text, truncated = _read_limited(path)
            return CardSource(text, "cache", commit=commit, truncated=truncated, path=path)
        if repo.no_exist_path(commit, README).exists():
            return CardSource(None, "cache", commit=commit)
    except (UnsafePathError, OSError):
        return None
    return None


def _read_limited(path: Path) -> tuple[str, bool]:
    with open(path, "rb") as fh:
        data = fh.read(MAX_CARD_BYTES + 1)
    truncated = len(data) > MAX_CARD_BYTES
    return data[:MAX_CARD_BYTES].decode("utf-8", errors="replace"), truncated


def fetch_card(session: HubSession, ref: RepoRef, revision: str) -> CardSource:
    """GET the README through the resolve URL (redirects followed; the session scopes the token).

    A missing README gives ``text=None``; other errors are raised (RepoNotFoundError, AuthError,
    RevisionNotFoundError, NetworkError...).
    """
    from hubcli.errors import EntryNotFoundError
    from hubcli.http import TRANSPORT_ERRORS, as_network_error
    from hubcli.repo import resolve_path

    url = resolve_path(ref, revision, README)
    try:
        resp = session.request("GET", url, stream=True, what=f"{ref}@{revision}")
    except EntryNotFoundError as exc:
        return CardSource(None, "hub", commit=exc.commit)
    try:
        chunks: list[bytes] = []
        got = 0
        for chunk in resp.iter_content(chunk_size=1 << 16):
            chunks.append(chunk)
            got += len(chunk)
            if got > MAX_CARD_BYTES:
                break
        commit = resp.headers.get("X-Repo-Commit")
    except TRANSPORT_ERRORS as exc:
        raise as_network_error(exc, f"{ref}: the README download was cut off") from exc
    finally:
        resp.close()
    data = b"".join(chunks)
    truncated = len(data) > MAX_CARD_BYTES
    return CardSource(
        data[:MAX_CARD_BYTES].decode("utf-8", errors="replace"),
        "hub",
        commit=commit,
        truncated=truncated,
    )


def download_card(
    settings: Settings, session: HubSession, ref: RepoRef, revision: str
) -> CardSource:
    """Fetch the README through the download engine, so that it lands in the cache too.

    Falls back to a plain GET (:func:`fetch_card`) when the cache cannot be written.
    """
    from dataclasses import replace

    from hubcli.errors import EntryNotFoundError, LocalFileError

    try:
        from hubcli.download.engine import download
    except ImportError:  # pragma: no cover - the engine is optional for this module
        return fetch_card(session, ref, revision)
    try:
        result = download(
            settings, session, replace(ref, revision=revision, path=None), files=[README]
        )
    except EntryNotFoundError as exc:
        return CardSource(None, "hub", commit=exc.commit)
    except LocalFileError:
        return fetch_card(session, ref, revision)
    text, truncated = _read_limited(result.path)
    return CardSource(text, "hub", commit=result.commit, truncated=truncated, path=result.path)


def load_card_source(
    session: HubSession,
    *,
    settings: Settings,
    ref: RepoRef,
    revision: str,
) -> CardSource:
    """The README for ``ref@revision``, cached on the way; from the cache alone when offline
    (``settings.offline``) or when the Hub cannot be reached.

    Raises OfflineError when offline and the cache does not have it; Hub errors otherwise.
    """
    if settings.offline:
        cached = cached_card(settings.cache_dir, ref, revision)
        if cached is None:
            raise OfflineError(
                f"{ref}@{revision}: {README} is not in the cache and offline mode is on.",
                hint="Run once online (e.g. 'hubcli card' or 'hubcli download') to cache it.",
            )
        return cached
    try:
        return download_card(settings, session, ref, revision)
    except NetworkError:
        cached = cached_card(settings.cache_dir, ref, revision)
        if cached is None:
            raise
        return cached


# -- suggestions ----------------------------------------------------------------------------------
def close_matches(session: HubSession, repo_type: str, repo_id: str, *, n: int = 3) -> list[str]:
    """Repo ids close to ``repo_id`` (a typo, another org), from exactly one search request.

    The search text is the start of the name (``tiny`` for ``acme/tiny-bret``), so a typo in
    the org or later in the name still finds the repo; difflib ranks what came back."""
    import difflib

    name = repo_id.rsplit("/", 1)[-1]
    data = session.request_json(
        "GET",
        f"/api/{repo_type}s",
        params={"search": name[:4], "limit": 100},
        retry=False,
        what="suggestions",
    )
    ids = [
        str(item.get("id") or item.get("modelId"))
        for item in (data if isinstance(data, list) else [])
        if isinstance(item, dict) and (item.get("id") or item.get("modelId"))
    ]
    by_lower = {i.lower(): i for i in ids if i != repo_id}
    found = difflib.get_close_matches(repo_id.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[f] for f in found]


# -- offline listings -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedListing:
    """A revision's files as the local cache knows them: from ``trees/<commit>.json`` (every
    file of the commit) or else from the snapshot (only the files downloaded)."""

    commit: str
    files: tuple[FileEntry, ...]
    source: str  # "tree" or "snapshot"


def cached_listing(cache_dir: Path, ref: RepoRef, revision: str) -> CachedListing | None:
    """The files of ``ref@revision`` from the cache alone; None when the cache cannot tell."""
    from hubcli.cache.layout import RepoCache

    repo = RepoCache(cache_dir, ref)
    try:
        commit = repo.resolve_offline(revision)
        if not commit:
            return None
        tree = repo.read_tree(commit)
        if tree is not None:
            return CachedListing(commit, tuple(_tree_entries(tree)), "tree")
        snapshot = repo.path / "snapshots" / commit
        if snapshot.is_dir():
            return CachedListing(commit, tuple(_snapshot_entries(snapshot)), "snapshot")
    except (IntegrityError, OSError, ValueError):
        return None
    return None


def _tree_entries(tree: dict[str, dict[str, Any]]) -> list[FileEntry]:
    from hubcli.models import FileEntry

    entries = []
    for path, item in sorted(tree.items()):
        raw: dict[str, Any] = {"path": path, "size": item.get("size"), "oid": item.get("blob_id")}
        if item.get("lfs_sha256"):
            raw["lfs"] = {"oid": item["lfs_sha256"], "size": item.get("lfs_size", raw["size"])}
        entries.append(FileEntry.from_tree_item(raw, what="cached tree", error=IntegrityError))
    return entries


def _snapshot_entries(snapshot: Path) -> list[FileEntry]:
    import hashlib
    import os

    from hubcli.models import FileEntry

    entries = []
    for folder, dirs, names in os.walk(snapshot):
        dirs.sort()
        for name in sorted(names):
            full = Path(folder) / name
            rel = full.relative_to(snapshot).as_posix()
            size = full.stat().st_size
            etag = Path(os.readlink(full)).name if full.is_symlink() else None
            if etag is None:  # a copy, not a link: its git blob id
                digest = hashlib.sha1(f"blob {size}\0".encode())  # git's blob id
                with open(full, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
                etag = digest.hexdigest()
            raw: dict[str, Any] = {"path": rel, "size": size}
            if len(etag) == 64:
                raw["lfs"] = {"oid": etag, "size": size}
            else:
                raw["oid"] = etag
            entries.append(
                FileEntry.from_tree_item(raw, what="cached snapshot", error=IntegrityError)
            )
    return entries
