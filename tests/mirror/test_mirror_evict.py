"""``--max-size``: the blob store kept under its budget by evicting the least recently used blobs
that no ``--pin-file`` ref reaches; the CLI spells sizes like the cache budget."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from hubcli.server.mirror.evict import PinFileError, load_pin_file
from tests.fixtures.hub import HubFixture
from tests.mirror.conftest import Mirror, file_gets, sha256


def test_lru_eviction_keeps_pinned_and_recent_blobs(
    hub_server_factory: Callable[..., HubFixture],
    mirror_factory: Callable[..., Mirror],
    tmp_path: Path,
) -> None:
    up = hub_server_factory()
    blobs = {name: os.urandom(300_000) for name in "abcd"}
    for name, data in blobs.items():
        up.seed_repo(f"alice/{name}", {"model.safetensors": data})
    pins = tmp_path / "pins"
    pins.write_text("# kept whatever happens\nalice/a@main\n")
    mirror = mirror_factory([up.url], max_size=1_000_000, pin_file=str(pins))

    def pull(name: str) -> None:
        r = requests.get(f"{mirror.url}/alice/{name}/resolve/main/model.safetensors", timeout=30)
        assert r.status_code == 200 and r.content == blobs[name]

    def stored(want: str) -> bool:  # eviction runs on the fill's thread, after it answered
        deadline = time.monotonic() + 10
        while True:
            names = {p.name for p in mirror.blobs()}
            got = {n for n, data in blobs.items() if sha256(data) in names}
            if got == set(want) or time.monotonic() > deadline:
                return got == set(want)
            time.sleep(0.05)

    for name in "abc":
        pull(name)
    assert stored("abc")  # 900 kB: under the budget
    pull("b")  # served from the store: b is now more recent than c
    pull("d")  # 1.2 MB: the least recently used unpinned blob goes
    assert stored("abd")
    pull("a")
    pull("c")  # c again: fetched again, and now b is the oldest unpinned one
    assert stored("acd")
    assert len(file_gets(up, sha256(blobs["c"]))) == 2
    assert len(file_gets(up, sha256(blobs["a"]))) == 1  # pinned: never evicted
    time.sleep(0.2)
    metrics = requests.get(f"{mirror.url}/metrics", timeout=10).text
    evictions = [x for x in metrics.splitlines() if x.startswith("hubcli_mirror_evict")]
    assert "hubcli_mirror_evictions_total 2" in evictions, evictions
    assert mirror.core.metrics.get("store_bytes") == 900_000


def test_pin_file_format(tmp_path: Path) -> None:
    f = tmp_path / "pins"
    sha = "0123456789abcdef0123456789abcdef01234567"
    f.write_text(f"org/m\norg/m@v1 # a tag\ndatasets/org/d@main\n\nspaces/o/s@{sha}\n")
    assert load_pin_file(f) == [
        ("model", "org/m", "main"),
        ("model", "org/m", "v1"),
        ("dataset", "org/d", "main"),
        ("space", "o/s", sha),
    ]
    f.write_text("org/m\nnot a ref\n")
    with pytest.raises(PinFileError, match=":2:"):
        load_pin_file(f)


@pytest.mark.parametrize(
    ("size", "ok"), [("500MB", True), ("2GiB", True), ("500M", False), ("lots", False)]
)
def test_cli_max_size_units(tmp_path: Path, size: str, ok: bool) -> None:
    cmd = [sys.executable, "-m", "hubcli.server", "--upstream", "http://127.0.0.1:9"]
    cmd += ["--max-size", size, "--root", str(tmp_path / "root"), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("http://") == ok
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    if not ok:
        assert proc.returncode == 2 and "size" in err.lower()
        if size == "500M":
            assert "500MB" in err and "500MiB" in err
