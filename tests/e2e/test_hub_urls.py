"""A Hub URL under the endpoint given by --endpoint (not only HF_ENDPOINT) names a repo."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_download_by_url_under_the_endpoint_flag(
    hub_server: Any, run_cli: Any, tmp_path: Path
) -> None:
    hub_server.seed_repo("alice/m", {"config.json": '{"a": 1}', "w.txt": "weights"})
    url = f"{hub_server.url}/alice/m/blob/main/config.json"
    res = run_cli(
        "--endpoint", hub_server.url, "--cache-dir", str(tmp_path / "c"), "download", url, "-q"
    )
    assert res.returncode == 0, res
    path = Path(res.stdout.strip().splitlines()[-1])
    assert path.name == "config.json" and path.read_text() == '{"a": 1}'
    assert not (path.parent / "w.txt").exists()  # only the file the URL names
