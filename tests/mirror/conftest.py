"""Fixtures of the mirror tests: an upstream hub (``hub_server_factory``) and mirrors in front of
it (``mirror_factory``), both in-process; the CLI test starts ``hubcli serve`` for real."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubcli.server import HubServer
from hubcli.server.mirror import MirrorConfig, MirrorCore, enable_mirror

CLIENT_TOKEN = "hf_client_secret_never_upstream"


class Mirror(HubServer):
    core: MirrorCore

    def blobs(self) -> list[Path]:
        return [p for p in (self.root / "objects").rglob("*") if p.is_file()]


@pytest.fixture
def mirror_factory() -> Iterator[Callable[..., Mirror]]:
    made: list[Mirror] = []
    dirs: list[tempfile.TemporaryDirectory[str]] = []

    def factory(upstreams: list[str] | None = None, **config: Any) -> Mirror:
        d = tempfile.TemporaryDirectory(prefix="mirror-root-")
        dirs.append(d)
        srv = Mirror(Path(d.name))
        srv.core = enable_mirror(srv, MirrorConfig(upstreams=list(upstreams or []), **config))
        srv.start()
        made.append(srv)
        return srv

    yield factory
    for srv in made:
        srv.stop()
    for d in dirs:
        d.cleanup()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seed_files(big: int = 300_000) -> dict[str, bytes]:
    return {
        "config.json": b'{"model_type": "bert"}',
        "README.md": b"---\nlicense: mit\n---\n# m\n",
        "sub/vocab.txt": b"".join(b"tok%05d\n" % i for i in range(2000)),
        "model.safetensors": os.urandom(big),
    }


def file_gets(server: HubServer, needle: str) -> list[dict[str, Any]]:
    """GET requests of the upstream's log whose path contains ``needle`` (files and CDN)."""
    return [r for r in server.requests() if r["method"] == "GET" and needle in r["path"]]
