"""End-to-end: `download --limit-rate` against the local hub over real HTTP."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.slow
def test_limit_rate_5mb_never_lets_50mb_finish_under_9s(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    data = hashlib.sha256(b"seed").digest() * (50_000_000 // 32)  # 50 MB, incompressible enough
    hub_server.seed_repo("alice/big", {"w.bin": data})
    env = {
        "HF_ENDPOINT": hub_server.url,
        "HF_HUB_CACHE": str(tmp_path / "cache"),
        # a stall is under 6 MB/s over 1 s: only true if the rate-limit waits counted
        "HUBCLI_STALL_MIN_RATE": "6000000",
        "HUBCLI_STALL_WINDOW": "1",
    }
    t0 = time.monotonic()
    res = run_cli("download", "alice/big", "--limit-rate", "5MB", "--json", env=env, timeout=120)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert elapsed >= 9.0, elapsed
    achieved = len(data) / elapsed
    print(f"--limit-rate 5MB: 50 MB in {elapsed:.2f} s, {achieved / 1e6:.2f} MB/s")
    assert achieved <= 5_000_000 * 1.12  # 5 MB/s, plus process start-up eaten by the clock
    path = Path(doc["path"]) / "w.bin"
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_limit_rate_is_validated_before_anything_is_fetched(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/m", {"a.txt": "x"})
    env = {"HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache")}
    res = run_cli("download", "alice/m", "--limit-rate", "5M", env=env)
    assert res.returncode == 2 and "Ambiguous" in res.stderr
    res = run_cli("download", "alice/m", env={**env, "HUBCLI_LIMIT_RATE": "fast"})
    assert res.returncode == 2 and "HUBCLI_LIMIT_RATE" in res.stderr
    assert not (tmp_path / "cache" / "models--alice--m").exists()
    ok = run_cli("download", "alice/m", "-q", env={**env, "HUBCLI_LIMIT_RATE": "1MB"})
    assert ok.returncode == 0 and Path(ok.stdout.strip(), "a.txt").read_text() == "x"
