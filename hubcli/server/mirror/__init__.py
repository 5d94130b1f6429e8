"""``hubcli serve --upstream URL`` / ``--from-cache DIR``: the hub as a verified, read-only
pull-through mirror of other hubs, and as a LAN share of an existing Hugging Face cache.

``enable_mirror(server, config)`` turns a ``HubServer`` into a mirror before it starts: its router
is replaced by the mirror's (``routes``), its blob store holds what the mirror fetched (verified
before it is published), and ``<root>/mirror/`` what it knows of commits (``core``). See
docs/mirror.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubcli.server.mirror.core import MirrorConfig, MirrorCore
from hubcli.server.mirror.routes import MirrorRouter

if TYPE_CHECKING:
    from hubcli.server.app import HubServer

__all__ = ["MirrorConfig", "MirrorCore", "MirrorRouter", "enable_mirror"]


def enable_mirror(server: HubServer, config: MirrorConfig) -> MirrorCore:
    """Make ``server`` (not started yet) answer as a mirror; return the mirror's state."""
    core = MirrorCore(server.state, config)
    server.router = MirrorRouter(core)
    return core
