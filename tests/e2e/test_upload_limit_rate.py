"""End-to-end: `upload --limit-rate` (HUBCLI_LIMIT_RATE) against the local hub over real HTTP:
LFS bodies and the commit body go through one token bucket per process."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

SIZE = 3_000_000


def test_upload_limit_rate_caps_the_average(hub_server: Any, run_cli: Any, tmp_path: Path) -> None:
    hub_server.lfs_threshold = 100_000
    folder = tmp_path / "up"
    folder.mkdir()
    data = hashlib.sha256(b"up").digest() * (SIZE // 32)
    (folder / "w.bin").write_bytes(data)  # LFS
    (folder / "inline.txt").write_bytes(b"i" * 50_000)  # in the commit body
    env = {"HF_ENDPOINT": hub_server.url, "HF_TOKEN": hub_server.alice_token}
    t0 = time.monotonic()
    res = run_cli("upload", "alice/up", str(folder), "--limit-rate", "1MB", "--json", env=env)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    sent = len(data) + 50_000
    # at most 1 MB/s on average: a tenth of a second of burst, nothing more
    assert elapsed >= (sent - 100_000) / 1_000_000, elapsed
    print(f"--limit-rate 1MB: {sent / 1e6:.2f} MB uploaded in {elapsed:.2f} s")
    commit = json.loads(res.stdout)
    assert commit
    assert hub_server.read_file("alice/up", "w.bin", hub_server.head("alice/up")) == data


def test_upload_limit_rate_is_validated_before_anything_is_sent(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("x")
    env = {"HF_ENDPOINT": hub_server.url, "HF_TOKEN": hub_server.alice_token}
    res = run_cli("upload", "alice/v", str(tmp_path / "a.txt"), "--limit-rate", "5M", env=env)
    assert res.returncode == 2 and "Ambiguous" in res.stderr
    hub_server.clear_requests()
    res = run_cli(
        "upload", "alice/v", str(tmp_path / "a.txt"), env={**env, "HUBCLI_LIMIT_RATE": "x"}
    )
    assert res.returncode == 2 and "HUBCLI_LIMIT_RATE" in res.stderr
    assert hub_server.requests() == []
