"""Parallel Range requests for big files, over real HTTP (library entry with small thresholds)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from hubcli.config import resolve_settings
from hubcli.download.engine import download
from hubcli.http import HubSession
from hubcli.repo import parse_repo_ref

KIB = 1024


def _run(hub: Any, cache: Path, **kw: Any) -> Any:
    settings = resolve_settings(endpoint=hub.url, cache_dir=cache, env={})
    with HubSession(settings, backoff_base=0.01) as session:
        return download(settings, session, parse_repo_ref("alice/big"), **kw)


def test_big_file_fetched_as_parallel_ranges(hub_server: Any, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * KIB + 123)
    hub_server.seed_repo("alice/big", {"w.safetensors": data, "c.json": "{}"})
    res = _run(hub_server, tmp_path / "c", range_threshold=1024 * KIB, part_size=256 * KIB)
    assert (res.path / "w.safetensors").read_bytes() == data
    cdn = [r for r in hub_server.requests() if r["origin"] == "cdn"]
    assert len(cdn) == 13
    assert sorted(int(r["range"].split("=")[1].split("-")[0]) for r in cdn) == [
        i * 256 * KIB for i in range(13)
    ]
    assert not any(r["auth"] for r in cdn)
    # Only one resolve round trip: the parts go straight to the CDN URL.
    resolves = [r for r in hub_server.requests() if "/resolve/" in r["path"]]
    assert len([r for r in resolves if r["path"].endswith("w.safetensors")]) == 1
    blobs = tmp_path / "c" / "models--alice--big" / "blobs"
    assert not list(blobs.glob("*.incomplete"))


def test_ranged_download_survives_drops(hub_server_factory: Any, tmp_path: Path) -> None:
    hub = hub_server_factory()
    data = os.urandom(2 * 1024 * KIB)
    hub.seed_repo("alice/big", {"w.bin": data})
    hub.set_knobs(fail_rate=0.4, seed=3)
    res = _run(hub, tmp_path / "c", range_threshold=512 * KIB, part_size=256 * KIB)
    assert (res.path / "w.bin").read_bytes() == data


def test_ranged_kill_9_resumes_parts(hub_server_factory: Any, tmp_path: Path) -> None:
    hub = hub_server_factory(bandwidth_mbps=1)
    data = os.urandom(6 * 1024 * KIB)
    hub.seed_repo("alice/big", {"w.bin": data})
    cache = tmp_path / "c"
    code = textwrap.dedent(
        f"""
        from hubcli.config import resolve_settings
        from hubcli.download.engine import download
        from hubcli.http import HubSession
        from hubcli.repo import parse_repo_ref
        s = resolve_settings(endpoint={hub.url!r}, cache_dir={str(cache)!r}, env={{}})
        download(s, HubSession(s), parse_repo_ref("alice/big"),
                 range_threshold=1024 * 1024, part_size=512 * 1024, range_workers=4)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    blobs = cache / "models--alice--big" / "blobs"
    state = blobs / f"{hashlib.sha256(data).hexdigest()}.ranges.incomplete"
    deadline = time.monotonic() + 30
    done = 0
    while time.monotonic() < deadline:
        try:
            done = sum(json.loads(state.read_text())["done"])
        except (OSError, ValueError):
            done = 0
        if done >= 1024 * KIB:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < done < len(data)
    hub.set_knobs(bandwidth_mbps=0)
    time.sleep(0.5)  # let the server log the killed run's requests first
    hub.clear_requests()
    res = _run(hub, cache, range_threshold=1024 * KIB, part_size=512 * KIB)
    assert (res.path / "w.bin").read_bytes() == data
    f = res.files[0]
    assert f.resumed_bytes >= done and f.fetched_bytes == len(data) - f.resumed_bytes
    assert sum(r["bytes"] for r in hub.requests() if r["origin"] == "cdn") <= len(data) - done
    assert not list(blobs.glob("*.incomplete"))


def test_default_parts_and_adaptive_streams_cover_the_file_exactly_once(
    hub_server_factory: Any, tmp_path: Path
) -> None:
    """Defaults (no part size, no stream count): a 20 MiB file above the 16 MiB threshold is cut
    into 2 MiB parts from its size; with the adaptive stream budget on a link capped per
    connection, every byte is fetched exactly once and the result verifies."""
    hub = hub_server_factory(bandwidth_mbps=40)
    data = os.urandom(20 * 1024 * KIB + 7)
    hub.seed_repo("alice/big", {"w.safetensors": data})
    res = _run(hub, tmp_path / "c")
    assert (res.path / "w.safetensors").read_bytes() == data
    ranges = sorted(
        tuple(int(x) for x in r["range"].split("=")[1].split("-"))
        for r in hub.requests()
        if r["origin"] == "cdn"
    )
    part = 2 * 1024 * KIB
    assert ranges == [(i * part, min(len(data), (i + 1) * part) - 1) for i in range(11)]
    assert res.files[0].fetched_bytes == len(data)
