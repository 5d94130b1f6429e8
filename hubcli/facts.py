"""What :mod:`hubcli.usage` needs about a repo, gathered from repo info, the cache and small files.

``config.json``, ``adapter_config.json`` and ``model_index.json`` are read from the cache when they
are there (snapshot of the commit), else with one GET each through the commit-pinned resolve URL
(at most 1 MiB, only when the file is listed and the repo info did not already carry
``config``). Offline, only the cache is read. A file that cannot be read is left out: the
snippets then say less, they never guess.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubcli.errors import HubError, UnsafePathError
from hubcli.usage import RepoFacts

if TYPE_CHECKING:
    from hubcli.config import Settings
    from hubcli.http import HubSession
    from hubcli.models import FileEntry, RepoInfo
    from hubcli.repo import RepoRef

SMALL_JSON_MAX = 1 << 20
_SIDE_FILES = ("config.json", "adapter_config.json", "model_index.json")


def _cached_json(cache_dir: Path, ref: RepoRef, commit: str, path: str) -> dict[str, Any] | None:
    from hubcli.cache.layout import RepoCache

    try:
        file = RepoCache(cache_dir, ref).snapshot_file(commit, path)
        if not file.is_file() or file.stat().st_size > SMALL_JSON_MAX:
            return None
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnsafePathError):
        return None
    return data if isinstance(data, dict) else None


def _remote_json(
    session: HubSession, ref: RepoRef, commit: str, path: str
) -> dict[str, Any] | None:
    from hubcli.repo import resolve_path

    try:
        data = session.request_json(
            "GET",
            resolve_path(ref, commit, path),
            max_bytes=SMALL_JSON_MAX,
            what=f"{ref}@{commit[:12]}: {path}",
        )
    except HubError:
        return None
    return data if isinstance(data, dict) else None


def side_json(
    settings: Settings, session: HubSession | None, ref: RepoRef, commit: str | None, path: str
) -> dict[str, Any] | None:
    """A small JSON file of the repo: from the cache, else (online) one GET; None if unreadable."""
    if not commit:
        return None
    found = _cached_json(settings.cache_dir, ref, commit, path)
    if found is None and session is not None and not settings.offline:
        found = _remote_json(session, ref, commit, path)
    return found


def gather(
    settings: Settings,
    session: HubSession | None,
    ref: RepoRef,
    info: RepoInfo,
    *,
    revision: str | None,
    card: dict[str, Any] | None = None,
) -> RepoFacts:
    """RepoFacts from repo info (online or from the cache) and the side files it lists."""
    from hubcli.datasets_info import dataset_configs

    files: tuple[FileEntry, ...] = tuple(info.files)
    paths = tuple(f.path for f in files)
    card_data = info.get("cardData")
    meta: dict[str, Any] = card_data if isinstance(card_data, dict) else {}
    if card:
        meta = {**card, **meta} if meta else card
    commit = info.sha
    side: dict[str, dict[str, Any] | None] = {}
    if ref.repo_type == "model":
        hub_config = info.get("config")
        for name in _SIDE_FILES:
            if name not in paths:
                continue
            if name == "config.json" and isinstance(hub_config, dict) and hub_config:
                side[name] = hub_config  # the Hub's digest of config.json (architectures, type)
                continue
            side[name] = side_json(settings, session, ref, commit, name)
    ti = info.get("transformersInfo")

    def text(key: str) -> str | None:
        value = info.get(key) or meta.get(key)
        return value if isinstance(value, str) and value else None

    return RepoFacts(
        repo_id=ref.repo_id,
        repo_type=ref.repo_type,
        commit=commit,
        revision=revision,
        endpoint=settings.endpoint,
        library_name=text("library_name"),
        pipeline_tag=text("pipeline_tag"),
        transformers_info=ti if isinstance(ti, dict) else None,
        config=side.get("config.json"),
        adapter_config=side.get("adapter_config.json"),
        model_index=side.get("model_index.json"),
        files=paths,
        dataset_configs=tuple(dataset_configs(files, meta)) if ref.repo_type == "dataset" else (),
    )
