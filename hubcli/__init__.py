"""hubcli: a fast, safe command-line client and cache manager for the Hugging Face Hub."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["HubClient", "Settings", "__version__", "download", "resolve_settings"]


def __getattr__(name: str) -> Any:
    # Lazy exports keep `import hubcli` (and so `hubcli --help`) free of requests and rich.
    if name == "HubClient":
        from hubcli.client import HubClient

        return HubClient
    if name in ("Settings", "resolve_settings"):
        from hubcli import config

        return getattr(config, name)
    if name == "download":
        from hubcli.downloader import download

        return download
    raise AttributeError(f"module 'hubcli' has no attribute {name!r}")
