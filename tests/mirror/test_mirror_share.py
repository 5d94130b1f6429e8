"""``hubcli serve --from-cache DIR``: a Hugging Face cache filled by huggingface_hub, shared
read-only as a hub (blobs verified when first served), alone and in front of an upstream; and the
real ``hubcli serve --upstream`` command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.fixtures.hub import HubFixture, hf_environment, run_hf
from tests.mirror.conftest import Mirror, seed_files, sha256


@pytest.fixture
def filled_cache(
    hub_server_factory: Callable[..., HubFixture], tmp_path: Path
) -> dict[str, object]:
    """A cache filled by huggingface_hub from a hub that is then stopped: ``alice/m`` whole,
    ``alice/p`` as a partial snapshot (config.json only, with its tree listing)."""
    up = hub_server_factory()
    files = seed_files(200_000)
    up.seed_repo("alice/m", files)
    up.seed_repo("alice/p", files)
    home = tmp_path / "sharer"
    code = """
        from huggingface_hub import snapshot_download
        snapshot_download("alice/m")
        snapshot_download("alice/p", allow_patterns=["config.json"])
    """
    run_hf(code, hf_environment(up.url, home))
    return {"cache": home / "hub", "files": files, "up": up}


def test_share_serves_a_huggingface_hub_cache(
    filled_cache: dict[str, object], mirror_factory: Callable[..., Mirror], tmp_path: Path
) -> None:
    cache, files, up = filled_cache["cache"], filled_cache["files"], filled_cache["up"]
    assert isinstance(files, dict) and isinstance(up, HubFixture)
    up.stop()  # air-gapped from here on
    share = mirror_factory([], from_cache=str(cache))
    code = """
        import json, os
        from huggingface_hub import list_repo_tree, model_info, snapshot_download
        d = snapshot_download("alice/m")
        out = {p: open(os.path.join(d, p), "rb").read().hex() for p in
               ["config.json", "README.md", "sub/vocab.txt", "model.safetensors"]}
        print(json.dumps({"files": out, "sha": model_info("alice/m").sha,
                          "tree": sorted(f.path for f in list_repo_tree("alice/m"))}))
    """
    out = run_hf(code, hf_environment(share.url, tmp_path / "c")).stdout
    got = json.loads(out.splitlines()[-1])
    assert {p: bytes.fromhex(v) for p, v in got["files"].items()} == files
    assert "sub" in got["tree"]
    # a file of the commit's tree that the partial snapshot lacks: a clear 404
    r = requests.get(f"{share.url}/alice/p/resolve/main/model.safetensors")
    assert r.status_code == 404 and "partial snapshot" in r.json()["error"]
    assert (
        requests.get(f"{share.url}/alice/p/resolve/main/config.json").content
        == files["config.json"]
    )
    # nothing was written into the shared cache
    assert not any("mirror" in p.name for p in Path(str(cache)).rglob("*"))


def test_share_cuts_a_tampered_blob(
    filled_cache: dict[str, object], mirror_factory: Callable[..., Mirror]
) -> None:
    cache, files = Path(str(filled_cache["cache"])), filled_cache["files"]
    assert isinstance(files, dict)
    blob = cache / "models--alice--m" / "blobs" / sha256(files["model.safetensors"])
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF  # same size, wrong bytes
    blob.write_bytes(bytes(data))
    share = mirror_factory([], from_cache=str(cache))
    url = f"{share.url}/alice/m/resolve/main/model.safetensors"
    got = b""
    with (
        pytest.raises(requests.exceptions.RequestException),
        requests.get(url, stream=True, timeout=30) as r,
    ):
        for piece in r.iter_content(65536):
            got += piece
    assert len(got) < len(data)  # cut before the end: never the whole tampered file
    r = requests.get(url, timeout=30)
    assert r.status_code == 502  # known bad from now on


def test_share_with_upstream_fills_its_own_store(
    filled_cache: dict[str, object], mirror_factory: Callable[..., Mirror]
) -> None:
    cache, files, up = filled_cache["cache"], filled_cache["files"], filled_cache["up"]
    assert isinstance(files, dict) and isinstance(up, HubFixture)
    before = sorted(p for p in Path(str(cache)).rglob("*"))
    mirror = mirror_factory([up.url], from_cache=str(cache))
    up.clear_requests()
    r = requests.get(f"{mirror.url}/alice/p/resolve/main/model.safetensors")
    assert r.status_code == 200 and r.content == files["model.safetensors"]
    r = requests.get(f"{mirror.url}/alice/m/resolve/main/sub/vocab.txt")
    assert r.content == files["sub/vocab.txt"]
    assert not [q for q in up.requests() if "/resolve/" in q["path"] and "vocab" in q["path"]]
    assert sorted(p for p in Path(str(cache)).rglob("*")) == before
    assert sha256(files["model.safetensors"]) in [p.name for p in mirror.blobs()]


def test_cli_serve_upstream(hub_server_factory: Callable[..., HubFixture], tmp_path: Path) -> None:
    up = hub_server_factory()
    files = seed_files(100_000)
    up.seed_repo("alice/m", files)
    up.seed_repo("alice/private", files, private=True)
    token_file = tmp_path / "upstream-token"
    token_file.write_text(f"# the mirror's own token\n{up.alice_token}\n")
    log = tmp_path / "mirror.log"
    cmd = [sys.executable, "-m", "hubcli", "serve", "--upstream", "http://127.0.0.1:9"]
    cmd += ["--upstream", up.url, "--upstream-token-file", str(token_file), "--log", str(log)]
    cmd += ["--revision-ttl", "5", "--root", str(tmp_path / "root")]
    (tmp_path / "access").write_text("carol: alice/private\n")
    cmd += ["--token", "hf_mirror_carol:carol", "--access-file", str(tmp_path / "access")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://")
        r = requests.get(f"{url}/alice/m/resolve/main/model.safetensors", timeout=30)
        assert r.status_code == 200 and r.content == files["model.safetensors"]
        # what the mirror's token may read upstream is only for those the access file names
        r = requests.get(f"{url}/alice/private/resolve/main/config.json", timeout=30)
        assert r.status_code == 401 and r.headers["X-Error-Code"] == "RepoNotFound"
        r = requests.get(f"{url}/api/models/alice/private", timeout=30)
        assert r.status_code == 401
        carol = {"Authorization": "Bearer hf_mirror_carol"}
        r = requests.get(f"{url}/alice/private/resolve/main/config.json", headers=carol)
        assert r.status_code == 200 and r.content == files["config.json"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert up.alice_token not in err and up.alice_token not in log.read_text()
    assert all(q["auth"] for q in up.requests() if q["origin"] == "api")
    assert not any(q["auth"] for q in up.requests() if q["origin"] == "cdn")
