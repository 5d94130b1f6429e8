"""hubcli: a fast, safe command-line client and cache manager for the Hugging Face Hub.

The library's one handle is :class:`Hub` (``hub = hubcli.Hub(); hub.download("org/name")``);
the types it returns and the errors it raises are exported here too. Everything is imported
lazily, so ``import hubcli`` (and so ``hubcli --help``) stays free of requests and rich.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "Hub": "hubcli.hub",
    "HubCache": "hubcli.hub",
    "HubClient": "hubcli.client",
    "Settings": "hubcli.config",
    "resolve_settings": "hubcli.config",
    "RepoRef": "hubcli.repo",
    "parse_repo_ref": "hubcli.repo",
    "DownloadResult": "hubcli.download.engine",
    "FileResult": "hubcli.download.engine",
    "UploadResult": "hubcli.upload.engine",
    "RepoInfo": "hubcli.models",
    "FileEntry": "hubcli.models",
    "SearchHit": "hubcli.discover",
    "Card": "hubcli.card",
    "VerifyReport": "hubcli.cache.verify",
    "RepairResult": "hubcli.download.repair",
    "CacheListing": "hubcli.cache.listing",
    "Sha256": "hubcli.hashing",
    "GitSha1": "hubcli.hashing",
    "CommitSha": "hubcli.hashing",
    "HubError": "hubcli.errors",
    "UsageError": "hubcli.errors",
    "AuthError": "hubcli.errors",
    "NotFoundError": "hubcli.errors",
    "NetworkError": "hubcli.errors",
    "ProtocolError": "hubcli.errors",
    "IntegrityError": "hubcli.errors",
    "OfflineError": "hubcli.errors",
    "LocalFileError": "hubcli.errors",
    "ConflictError": "hubcli.errors",
    "Interrupted": "hubcli.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hubcli' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
