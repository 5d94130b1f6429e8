"""The pull-through mirror (``--upstream``) on an object store: several mirror replicas share one
bucket (docs/storage.md, "Mirror on S3"). A blob one replica filled (verified, then published
through the store's verified write) is served by the others from the bucket, and the commit
records one replica fetched are read by the others instead of going upstream."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hubcli.server import HubServer
from hubcli.server.cli import run_server
from hubcli.server.mirror import MirrorConfig, MirrorCore, enable_mirror
from hubcli.server.store import open_storage, parse_storage_url
from tests.fixtures.hub import HubFixture, hf_environment, run_hf
from tests.mirror.conftest import file_gets, seed_files
from tests.s3.conftest import ObjectStore

SNAPSHOT = """
    import json, os
    from huggingface_hub import snapshot_download
    d = snapshot_download("alice/m")
    out = {}
    for top, _, names in os.walk(d):
        for n in names:
            p = os.path.join(top, n)
            out[os.path.relpath(p, d).replace(os.sep, "/")] = open(p, "rb").read().hex()
    print(json.dumps(out))
"""


class MirrorReplica(HubServer):
    core: MirrorCore


@pytest.fixture
def mirror_replicas(
    object_store: ObjectStore, bucket: str
) -> Iterator[Callable[..., MirrorReplica]]:
    """In-process mirror replicas on ``s3://<bucket>/hub`` (each its own store object)."""
    made: list[MirrorReplica] = []

    def factory(upstreams: list[str], **config: Any) -> MirrorReplica:
        store = open_storage(parse_storage_url(f"s3://{bucket}/hub"), s3_endpoint=object_store.url)
        srv = MirrorReplica(storage=store)
        srv.core = enable_mirror(srv, MirrorConfig(upstreams=list(upstreams), **config))
        srv.start()
        made.append(srv)
        return srv

    yield factory
    for srv in made:
        srv.stop()


def _objects(object_store: ObjectStore, bucket: str, prefix: str) -> dict[str, bytes]:
    c = object_store.client()
    out: dict[str, bytes] = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = c.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def test_two_mirror_replicas_share_one_bucket(
    hub_server_factory: Callable[..., HubFixture],
    mirror_replicas: Callable[..., MirrorReplica],
    object_store: ObjectStore,
    bucket: str,
    tmp_path: Path,
) -> None:
    up = hub_server_factory()
    files = seed_files(9 * 1024 * 1024 + 5)  # an LFS file of 2 parts in the store
    up.seed_repo("alice/m", files)
    a = mirror_replicas([up.url])
    b = mirror_replicas([up.url])
    got_a = json.loads(
        run_hf(SNAPSHOT, hf_environment(a.url, tmp_path / "a")).stdout.splitlines()[-1]
    )
    got_b = json.loads(
        run_hf(SNAPSHOT, hf_environment(b.url, tmp_path / "b")).stdout.splitlines()[-1]
    )
    assert {p: bytes.fromhex(v) for p, v in got_a.items()} == files
    assert got_b == got_a
    # each blob fetched from the upstream once in total: B served them from the bucket
    sha = up.head("alice/m")
    assert len(file_gets(up, "/_cdn/")) == 1
    for name in ("config.json", "README.md", "sub/vocab.txt"):
        assert len(file_gets(up, f"/resolve/{sha}/{name}")) == 1, name
    # and B read A's commit records from the bucket: the tree was walked upstream once
    assert len(file_gets(up, f"/tree/{sha}")) == 1
    assert b.core.metrics.get("fills_total") == 0
    # the blobs and records are in the bucket, named by their hashes
    blobs = _objects(object_store, bucket, "hub/blobs/")
    big = files["model.safetensors"]
    assert blobs[f"hub/blobs/sha256/{hashlib.sha256(big).hexdigest()}"] == big
    assert len(blobs) == 4
    docs = _objects(object_store, bucket, "hub/mirror/")
    assert f"hub/mirror/commits/model/alice/m/{sha}.tree.json" in docs
    assert f"hub/mirror/commits/model/alice/m/{sha}.info.json" in docs
    # a Range of the LFS file through B: streamed from the store
    r = requests.get(
        f"{b.url}/alice/m/resolve/main/model.safetensors",
        headers={"Range": "bytes=8388600-8388700"},
        timeout=60,
    )
    assert r.status_code == 206 and r.content == big[8388600:8388701]
    assert len(file_gets(up, "/_cdn/")) == 1


@pytest.mark.parametrize("mode", ["wrong-body-lfs", "wrong-body-regular"])
def test_corrupt_upstream_blob_never_reaches_the_bucket(
    hostile_hub: object,
    mirror_replicas: Callable[..., MirrorReplica],
    object_store: ObjectStore,
    bucket: str,
    mode: str,
) -> None:
    from tests.fixtures.hostile import BASE_FILES, HostileHub

    assert isinstance(hostile_hub, HostileHub)
    mirror = mirror_replicas([hostile_hub.url], read_timeout=5)
    statuses = []
    for f in BASE_FILES:
        r = requests.get(f"{mirror.url}/hostile/{mode}/resolve/main/{f.path}", timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 200:
            assert r.content == f.data
    assert 502 in statuses
    blobs = _objects(object_store, bucket, "hub/blobs/")
    assert blobs
    for key, data in blobs.items():
        name = key.rsplit("/", 1)[-1]
        assert name in (hashlib.sha256(data).hexdigest(), *(f.sha1 for f in BASE_FILES))
        assert any(f.data == data for f in BASE_FILES)


@pytest.mark.parametrize(
    "option", [{"max_size": "1GB"}, {"pin_file": "pins.txt"}, {"from_cache": "."}]
)
def test_file_only_mirror_options_are_refused_on_s3(
    option: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from_cache = option.pop("from_cache", None)
    rc = run_server(
        upstreams=["http://127.0.0.1:9"],
        from_cache=from_cache,
        mirror_options=option,
        storage="s3://nowhere/hub",
    )
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "need a file:// store" in err
