"""huggingface_hub, unmodified, through a mirror whose upstream is another ``hubcli serve`` (with
latency), and the mirror's promises: one upstream fetch per blob, no client token upstream,
single fill for concurrent clients, pinned commits, degraded service, no Xet."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.fixtures.hub import HubFixture, hf_environment, run_hf
from tests.mirror.conftest import CLIENT_TOKEN, Mirror, file_gets, seed_files, sha256


def test_huggingface_hub_through_mirror(
    hub_server_factory: Callable[..., HubFixture],
    mirror_factory: Callable[..., Mirror],
    tmp_path: Path,
) -> None:
    up = hub_server_factory(latency_ms=20)
    files = seed_files()
    up.seed_repo("alice/m", files)
    mirror = mirror_factory([up.url])
    code = """
        import json, os
        from huggingface_hub import (HfApi, HfFileSystem, hf_hub_download, list_repo_tree,
                                     model_info, snapshot_download)
        d = snapshot_download("alice/m")
        out = {p: open(os.path.join(d, p), "rb").read().hex() for p in
               ["config.json", "README.md", "sub/vocab.txt", "model.safetensors"]}
        one = hf_hub_download("alice/m", "sub/vocab.txt")
        tree = sorted(f.path for f in list_repo_tree("alice/m", recursive=True))
        info = model_info("alice/m", files_metadata=True)
        sizes = {s.rfilename: s.size for s in info.siblings}
        fs = HfFileSystem()
        head = fs.open("alice/m/model.safetensors", "rb").read(1000)
        part = fs.read_bytes("alice/m/sub/vocab.txt", start=8, end=24)
        print(json.dumps({"files": out, "one": open(one, "rb").read().hex(), "tree": tree,
                          "sizes": sizes, "sha": info.sha, "head": head.hex(),
                          "part": part.hex()}))
    """
    env = hf_environment(mirror.url, tmp_path / "hf1", token=CLIENT_TOKEN)
    got = json.loads(run_hf(code, env).stdout.strip().splitlines()[-1])
    assert {p: bytes.fromhex(v) for p, v in got["files"].items()} == files
    assert bytes.fromhex(got["one"]) == files["sub/vocab.txt"]
    assert set(got["tree"]) == set(files) | {"sub"}
    assert got["sizes"]["model.safetensors"] == len(files["model.safetensors"])
    assert got["sha"] == up.head("alice/m")
    assert bytes.fromhex(got["head"]) == files["model.safetensors"][:1000]
    assert bytes.fromhex(got["part"]) == files["sub/vocab.txt"][8:24]
    # one upstream fetch per blob, and never the client's token upstream
    assert len(file_gets(up, "/_cdn/")) == 1
    for name in ("config.json", "README.md", "sub/vocab.txt"):
        assert len(file_gets(up, f"/resolve/{up.head('alice/m')}/{name}")) == 1
    assert not any(r["auth"] for r in up.requests())
    # a second client, warm mirror: nothing goes upstream at all within the revision TTL
    up.clear_requests()
    env2 = hf_environment(mirror.url, tmp_path / "hf2")
    run_hf('from huggingface_hub import snapshot_download; snapshot_download("alice/m")', env2)
    assert up.requests() == []
    assert mirror.core.metrics.get("hits_total") >= 4


def test_hubcli_download_through_mirror(
    hub_server_factory: Callable[..., HubFixture],
    mirror_factory: Callable[..., Mirror],
    run_cli: Callable[..., object],
    tmp_path: Path,
) -> None:
    up = hub_server_factory()
    files = seed_files(50_000)
    up.seed_repo("alice/m", files)
    mirror = mirror_factory([up.url])
    dest = tmp_path / "out"
    res = run_cli("download", "alice/m", "--local-dir", str(dest), env={"HF_ENDPOINT": mirror.url})
    assert res.returncode == 0, res  # type: ignore[attr-defined]
    for name, data in files.items():
        assert (dest / name).read_bytes() == data


def test_upstream_sees_only_the_mirror_token(
    hostile_hub: object, mirror_factory: Callable[..., Mirror]
) -> None:
    from tests.fixtures.hostile import BASE_FILES, HostileHub

    assert isinstance(hostile_hub, HostileHub)
    mirror = mirror_factory([hostile_hub.url], token="hf_mirror_own_token")
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {CLIENT_TOKEN}"
    for f in BASE_FILES:
        r = s.get(f"{mirror.url}/hostile/healthy/resolve/main/{f.path}")
        assert r.status_code == 200 and r.content == f.data
        assert not any(k.lower().startswith("x-xet") for k in r.headers)
    reqs = hostile_hub.requests()
    assert reqs
    for r in reqs:
        assert CLIENT_TOKEN not in json.dumps(r)
        if r["listener"] == "hub":
            assert r["auth"] == "Bearer hf_mirror_own_token"
        else:
            assert r["auth"] is None  # the CDN origin never gets a token
    assert hostile_hub.token_leaks() == []
    assert "hf_mirror_own_token" not in repr(mirror.core.client)


@pytest.mark.parametrize(
    "mode", ["wrong-body-lfs", "wrong-body-regular", "content-length-long", "blobid-traversal"]
)
def test_corrupt_upstream_never_stored(
    hostile_hub: object, mirror_factory: Callable[..., Mirror], mode: str
) -> None:
    from tests.fixtures.hostile import BASE_FILES, HostileHub

    assert isinstance(hostile_hub, HostileHub)
    mirror = mirror_factory([hostile_hub.url], read_timeout=5)
    statuses = []
    for f in BASE_FILES:
        r = requests.get(f"{mirror.url}/hostile/{mode}/resolve/main/{f.path}", timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 200:
            assert r.content == f.data
    assert 502 in statuses
    for blob in mirror.blobs():
        data = blob.read_bytes()
        assert blob.name in (sha256(data), *(f.sha1 for f in BASE_FILES if f.data == data))


def test_concurrent_clients_single_fill_and_cold_range(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    up = hub_server_factory(bandwidth_mbps=8)
    big = seed_files(12 * 1024 * 1024)["model.safetensors"]  # ~1.5 s at 8 MB/s
    up.seed_repo("alice/big", {"model.safetensors": big})
    mirror = mirror_factory([up.url])
    url = f"{mirror.url}/alice/big/resolve/main/model.safetensors"

    def pull(i: int) -> bytes:
        if i == 0:
            r = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=60)
            assert r.status_code == 206
            return r.content
        return requests.get(url, timeout=60).content

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        got = list(pool.map(pull, range(6)))
    elapsed = time.monotonic() - t0
    assert got[0] == big[100:200]
    assert all(g == big for g in got[1:])
    cdn = file_gets(up, "/_cdn/")
    assert len(cdn) == 1 and cdn[0]["bytes"] == len(big)
    assert elapsed < 10
    assert mirror.core.metrics.get("fills_total") == 1


def test_upstream_dropping_mid_fill_fails_over(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    first = hub_server_factory(fail_rate=1.0, seed=1)
    files = seed_files(2 * 1024 * 1024)
    first.seed_repo("alice/m", files)
    second = hub_server_factory(root=first.root)  # the same repos, another hub
    mirror = mirror_factory([first.url, second.url])
    r = requests.get(f"{mirror.url}/alice/m/resolve/main/model.safetensors", timeout=60)
    assert r.status_code == 200 and r.content == files["model.safetensors"]
    assert any(g["bytes"] < len(files["model.safetensors"]) for g in file_gets(first, "/_cdn/"))
    assert file_gets(second, "/_cdn/")  # the rest came from the second upstream
    blob = next(p for p in mirror.blobs() if p.name == sha256(files["model.safetensors"]))
    assert blob.read_bytes() == files["model.safetensors"]
    assert not list((mirror.root / "tmp").iterdir())


def test_upstream_killed_mid_fill_then_second_upstream(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    first = hub_server_factory(bandwidth_mbps=2)
    files = seed_files(4 * 1024 * 1024)
    first.seed_repo("alice/m", files)
    second = hub_server_factory(root=first.root)
    mirror = mirror_factory([first.url, second.url], read_timeout=2)
    url = f"{mirror.url}/alice/m/resolve/main/model.safetensors"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(requests.get, url, timeout=60)
        time.sleep(1.0)
        first.set_knobs(fail_rate=1.0)  # the first upstream dies mid-body from now on
        first.stop()
        r = fut.result()
    if r.status_code == 200:  # resumed from the second upstream within the same fill
        assert r.content == files["model.safetensors"]
    r2 = requests.get(url, timeout=60)
    assert r2.status_code == 200 and r2.content == files["model.safetensors"]
    for blob in mirror.blobs():
        assert blob.name in (sha256(blob.read_bytes()),) or len(blob.name) == 40


def test_pinning_ttl_and_degraded_mode(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    up = hub_server_factory()
    old = up.seed_repo("alice/m", {"a.txt": "v1", "b.txt": "v1"})
    mirror = mirror_factory([up.url], revision_ttl=1.0)
    base = f"{mirror.url}/alice/m/resolve"
    assert requests.get(f"{base}/main/a.txt").content == b"v1"
    new = up.seed_repo("alice/m", {"a.txt": "v2-a", "b.txt": "v2-b"})
    r = requests.get(f"{base}/main/b.txt")  # same pinned commit within the TTL
    assert r.content == b"v1" and r.headers["X-Repo-Commit"] == old
    time.sleep(1.1)
    r = requests.get(f"{base}/main/b.txt")
    assert r.content == b"v2-b" and r.headers["X-Repo-Commit"] == new
    up.clear_requests()
    assert requests.get(f"{base}/{old}/a.txt").content == b"v1"
    assert up.requests() == []  # a stored sha never goes upstream
    up.stop()
    time.sleep(1.1)
    r = requests.get(f"{base}/main/b.txt")  # expired pin, upstream down: stale with a warning
    assert r.status_code == 200 and r.content == b"v2-b" and "stale" in r.headers["Warning"]
    r = requests.get(f"{base}/main/a.txt")  # a miss
    assert r.status_code == 503 and r.headers["Retry-After"]
    info = requests.get(f"{mirror.url}/api/models/alice/m/revision/{old}")
    assert info.status_code == 200 and info.json()["sha"] == old
    assert requests.get(f"{mirror.url}/healthz").json()["upstreams"][0]["up"] is False


def test_xet_hidden_health_and_metrics(
    hub_server_factory: Callable[..., HubFixture], mirror_factory: Callable[..., Mirror]
) -> None:
    up = hub_server_factory()
    up.seed_repo("alice/m", seed_files(1000))
    mirror = mirror_factory([up.url])
    r = requests.get(f"{mirror.url}/api/models/alice/m/xet-read-token/main")
    assert r.status_code == 501 and "HF_HUB_DISABLE_XET" in r.json()["error"]
    r = requests.post(f"{mirror.url}/api/models/alice/m/commit/main", data=b"{}")
    assert r.status_code == 405
    r = requests.get(f"{mirror.url}/alice/m/resolve/main/model.safetensors")
    assert r.status_code == 200
    assert r.history and r.history[0].headers["X-Linked-Size"] == "1000"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert r.headers["ETag"] == f'"{sha256(r.content)}"'
    assert requests.get(f"{mirror.url}/api/models?search=alice").json()[0]["id"] == "alice/m"
    refs = requests.get(f"{mirror.url}/api/models/alice/m/refs").json()
    assert refs["branches"][0]["targetCommit"] == up.head("alice/m")
    commits = requests.get(f"{mirror.url}/api/models/alice/m/commits/main").json()
    assert commits[0]["id"] == up.head("alice/m")
    assert requests.get(f"{mirror.url}/healthz").json()["status"] == "ok"
    text = requests.get(f"{mirror.url}/metrics").text
    assert "hubcli_mirror_misses_total 1" in text
    assert "hubcli_mirror_fills_in_progress 0" in text
