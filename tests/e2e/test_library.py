"""The library works without the CLI: `import hubcli` exposes HubClient, settings and download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hubcli
from hubcli.http import HubSession
from hubcli.repo import parse_repo_ref


def test_public_api_download_and_client(hub_server: Any, tmp_path: Path) -> None:
    commit = hub_server.seed_repo("alice/lib", {"config.json": '{"a": 1}', "w.bin": b"\x00" * 300})
    settings = hubcli.resolve_settings(
        endpoint=hub_server.url, cache_dir=tmp_path / "cache", env={}
    )
    ref = parse_repo_ref("alice/lib")
    with HubSession(settings) as session:
        info = hubcli.HubClient(session).repo_info(ref, files_metadata=True)
        assert info.sha == commit
        assert {f.path for f in info.files} == {"config.json", "w.bin"}
    with hubcli.Hub(settings=settings) as hub:
        result = hub.download(ref)
    assert result.commit == commit
    assert result.path == tmp_path / "cache" / "models--alice--lib" / "snapshots" / commit
    assert (result.path / "config.json").read_text() == '{"a": 1}'
    assert (result.path / "w.bin").read_bytes() == b"\x00" * 300
