"""A local Hugging Face Hub-compatible server (``hubcli serve``).

Stdlib + PyYAML only; it never imports the client side of hubcli. See ``docs/server.md``.
"""

from __future__ import annotations

from hubcli.server.app import HubServer

__all__ = ["HubServer"]
