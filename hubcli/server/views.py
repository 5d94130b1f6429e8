"""JSON views of repos, trees and commits, shaped like the Hub's API answers."""

from __future__ import annotations

import datetime as _dt
import fnmatch
import functools
import json
import re
from typing import Any

import yaml

from hubcli.server.storage import Commit, Entry, Repo, Storage, lfs_pointer

LFS_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.gguf",
    "*.pt",
    "*.pth",
    "*.onnx",
    "*.parquet",
    "*.arrow",
    "*.zip",
    "*.tar*",
)

DEFAULT_GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)

_card_cache: dict[str, dict[str, Any] | None] = {}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def parse_front_matter(text: str) -> dict[str, Any] | None:
    """Parse the YAML block between leading ``---`` lines of a README (None if absent/invalid)."""
    if not text.startswith("---"):
        return None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            try:
                data = yaml.safe_load("\n".join(lines[1:i]))
            except yaml.YAMLError:
                return None
            return _jsonable(data) if isinstance(data, dict) else None
    return None


def card_data(storage: Storage, commit: Commit | None) -> dict[str, Any] | None:
    if commit is None:
        return None
    entry = commit.tree.get("README.md")
    if entry is None or entry.is_lfs:
        return None
    if entry.oid not in _card_cache:
        try:
            text = storage.read_blob(entry).decode("utf-8", "replace")
        except OSError:
            return None
        if len(_card_cache) > 2048:
            _card_cache.clear()
        _card_cache[entry.oid] = parse_front_matter(text)
    return _card_cache[entry.oid]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def derive_tags(repo: Repo, card: dict[str, Any] | None) -> list[str]:
    card = card or {}
    tags: list[str] = []
    if repo.type == "model":
        tags += _as_list(card.get("library_name"))
        tags += _as_list(card.get("tags"))
        tags += _as_list(card.get("pipeline_tag"))
        tags += _as_list(card.get("language"))
        tags += [f"dataset:{d}" for d in _as_list(card.get("datasets"))]
        tags += [f"base_model:{d}" for d in _as_list(card.get("base_model"))]
        tags += [f"license:{x}" for x in _as_list(card.get("license"))]
    elif repo.type == "dataset":
        tags += _as_list(card.get("tags"))
        for key in (
            "task_categories",
            "task_ids",
            "language",
            "language_creators",
            "multilinguality",
            "size_categories",
            "license",
        ):
            tags += [f"{key}:{x}" for x in _as_list(card.get(key))]
        if card.get("benchmark"):
            tags.append("benchmark:official")
    else:
        tags += _as_list(card.get("tags"))
        sdk = card.get("sdk") or repo.meta.get("sdk")
        if sdk:
            tags.append(str(sdk))
        tags += [f"license:{x}" for x in _as_list(card.get("license"))]
    tags += [str(t) for t in repo.meta.get("extra_tags", [])]
    tags.append("region:us")
    seen: set[str] = set()
    return [t for t in tags if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]


def lfs_info(entry: Entry) -> dict[str, Any] | None:
    if entry.sha256 is None:
        return None
    return {
        "sha256": entry.sha256,
        "size": entry.size,
        "pointerSize": len(lfs_pointer(entry.sha256, entry.size)),
    }


def repo_summary(
    storage: Storage, repo: Repo, commit: Commit | None, *, blobs: bool = False
) -> dict[str, Any]:
    """All fields the server knows about a repo at a commit (info = this; listings = a subset)."""
    card = card_data(storage, commit)
    meta = repo.meta
    d: dict[str, Any] = {
        "_id": meta.get("_id"),
        "id": repo.id,
        "author": repo.namespace,
        "sha": commit.id if commit else None,
        "lastModified": commit.date if commit else meta.get("createdAt"),
        "createdAt": meta.get("createdAt"),
        "private": bool(meta.get("private")),
        "gated": meta.get("gated") or False,
        "disabled": bool(meta.get("disabled")),
        "downloads": int(meta.get("downloads", 0)),
        "downloadsAllTime": int(meta.get("downloads", 0)),
        "likes": int(meta.get("likes", 0)),
        "trendingScore": 0,
        "tags": derive_tags(repo, card),
        "cardData": card or {},
    }
    siblings = []
    used = 0
    for path, entry in sorted(commit.tree.items()) if commit else []:
        used += entry.size
        sib: dict[str, Any] = {"rfilename": path}
        if blobs:
            sib["size"] = entry.size
            sib["blobId"] = entry.oid
            info = lfs_info(entry)
            if info:
                sib["lfs"] = info
        siblings.append(sib)
    d["siblings"] = siblings
    d["usedStorage"] = used
    if repo.type == "model":
        if card and card.get("pipeline_tag"):
            d["pipeline_tag"] = card["pipeline_tag"]
        if card and card.get("library_name"):
            d["library_name"] = card["library_name"]
        d["modelId"] = repo.id
        d["spaces"] = []
        d["widgetData"] = None
    elif repo.type == "dataset":
        d["description"] = ""
        d["citation"] = ""
        d["paperswithcode_id"] = None
    else:
        sdk = (card or {}).get("sdk") or meta.get("sdk") or "static"
        d["sdk"] = sdk
        d["subdomain"] = repo.id.replace("/", "-").lower()
        d["host"] = ""
        d["runtime"] = {"stage": "RUNNING", "hardware": {"current": None, "requested": None}}
        d["models"] = []
        d["datasets"] = []
    return d


LISTING_DEFAULT = {
    "model": (
        "_id",
        "id",
        "likes",
        "trendingScore",
        "private",
        "downloads",
        "tags",
        "pipeline_tag",
        "library_name",
        "createdAt",
        "modelId",
    ),
    "dataset": (
        "_id",
        "id",
        "author",
        "sha",
        "lastModified",
        "private",
        "gated",
        "disabled",
        "downloads",
        "likes",
        "tags",
        "trendingScore",
        "createdAt",
    ),
    "space": (
        "_id",
        "id",
        "author",
        "sha",
        "lastModified",
        "private",
        "likes",
        "tags",
        "trendingScore",
        "createdAt",
        "sdk",
    ),
}


def select_fields(summary: dict[str, Any], fields: list[str] | tuple[str, ...]) -> dict[str, Any]:
    out = {"_id": summary["_id"], "id": summary["id"]}
    for f in fields:
        if f in summary:
            out[f] = summary[f]
    return out


def tree_item(
    storage: Storage, repo: Repo, commit: Commit, path: str, *, expand: bool = False
) -> dict[str, Any]:
    entry = commit.tree.get(path)
    item: dict[str, Any]
    if entry is not None:
        item = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
        if entry.sha256:
            info = lfs_info(entry)
            assert info is not None
            item["lfs"] = {
                "oid": info["sha256"],
                "size": info["size"],
                "pointerSize": info["pointerSize"],
            }
    else:
        item = {"type": "directory", "oid": commit.dir_oid(path), "size": 0, "path": path}
    if expand:
        last = last_commit_for(storage, repo, commit, path)
        if last is not None:
            item["lastCommit"] = {"id": last.id, "title": last.title, "date": last.date}
        if entry is not None:
            item["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"status": "safe"},
                "pickleImportScan": {"status": "unscanned"},
            }
    return item


def _path_sig(commit: Commit, path: str) -> str | None:
    entry = commit.tree.get(path)
    if entry is not None:
        return entry.oid
    if path in commit.dirs():
        return commit.dir_oid(path)
    return None


def last_commit_for(storage: Storage, repo: Repo, commit: Commit, path: str) -> Commit | None:
    """The most recent commit (walking first parents, bounded) that changed ``path``."""
    sig = _path_sig(commit, path)
    cur = commit
    for _ in range(200):
        if not cur.parents:
            return cur
        parent = storage.get_commit(repo, cur.parents[0])
        if parent is None or _path_sig(parent, path) != sig:
            return cur
        cur = parent
    return cur


def commit_item(c: Commit, *, formatted: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": c.id,
        "title": c.title,
        "message": c.message,
        "date": c.date,
        "authors": [{"user": c.author, "avatar": None}],
    }
    if formatted:
        d["formatted"] = {"title": c.title, "message": c.message}
    return d


@functools.lru_cache(maxsize=64)
def _lfs_rules(gitattributes: str | None) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """One regex for the name patterns (built-in + ``.gitattributes`` ones without a slash) and
    one for the path patterns, compiled once per ``.gitattributes`` text."""
    names: list[str] = list(LFS_PATTERNS)
    paths: list[str] = []
    for line in (gitattributes or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and "filter=lfs" in parts[1:]:
            pat = parts[0]
            (paths if "/" in pat else names).append(pat.lstrip("/"))

    def one(pats: list[str]) -> re.Pattern[str] | None:
        return re.compile("|".join(fnmatch.translate(p) for p in pats)) if pats else None

    return one(names), one(paths)


def is_lfs_path(path: str, size: int, threshold: int, gitattributes: str | None) -> bool:
    if size >= threshold:
        return True
    by_name, by_path = _lfs_rules(gitattributes)
    name = path.rsplit("/", 1)[-1]
    return bool(by_name and by_name.match(name)) or bool(by_path and by_path.match(path))


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
