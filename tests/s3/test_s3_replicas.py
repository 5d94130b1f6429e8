"""`hubcli serve --storage s3://...`: replicas sharing one bucket (docs/storage.md).

huggingface_hub (unmodified, HF_HUB_DISABLE_XET=1) uploads through one replica and downloads
through the other; concurrent commits through both lose nothing; a stale parentCommit gets 412;
an upload whose bytes do not match its sha256 never becomes visible; with --presign, LFS files
are redirected to the object store, which never sees the client's token."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from hubcli.server import HubServer
from hubcli.server.ids import StorageError
from tests.fixtures.hub import hf_environment, run_hf
from tests.s3.conftest import ObjectStore

ALICE = {"Authorization": "Bearer hf_alice_token"}


def _commit(url: str, repo: str, files: dict[str, bytes], parent: str | None = None) -> Any:
    header: dict[str, Any] = {"summary": f"add {', '.join(files)}"}
    if parent:
        header["parentCommit"] = parent
    lines = [{"key": "header", "value": header}]
    for path, data in files.items():
        content = base64.b64encode(data).decode()
        lines.append({"key": "file", "value": {"path": path, "content": content}})
    body = "\n".join(json.dumps(x) for x in lines).encode()
    h = {**ALICE, "Content-Type": "application/x-ndjson"}
    return requests.post(f"{url}/api/models/{repo}/commit/main", data=body, headers=h, timeout=60)


def _create(url: str, repo: str) -> None:
    ns, name = repo.split("/")
    r = requests.post(
        f"{url}/api/repos/create", json={"name": name, "organization": ns}, headers=ALICE,
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 200, r.text


def _head(url: str, repo: str) -> str:
    r = requests.get(f"{url}/api/models/{repo}/revision/main", headers=ALICE, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["sha"])


def test_hf_upload_through_one_replica_download_through_other(
    serve_replicas: Any, tmp_path: Path
) -> None:
    a, b = serve_replicas(2, "--lfs-threshold", "1024")
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_bytes(b'{"model_type": "bert"}')
    (src / "sub" / "vocab.txt").write_bytes(b"".join(b"tok%05d\n" % i for i in range(3000)))
    big = os.urandom(9 * 1024 * 1024 + 123)  # two parts in the object store
    (src / "model.safetensors").write_bytes(big)
    home_a, home_b = tmp_path / "hf_a", tmp_path / "hf_b"
    run_hf(
        f"""
        from huggingface_hub import HfApi
        api = HfApi(token="hf_alice_token")
        api.create_repo("alice/s3-model")
        api.upload_folder(repo_id="alice/s3-model", folder_path={str(src)!r})
        """,
        hf_environment(a.url, home_a),
    )
    out = run_hf(
        """
        from huggingface_hub import snapshot_download
        print(snapshot_download("alice/s3-model", token="hf_alice_token"))
        """,
        hf_environment(b.url, home_b),
    )
    snap = Path(out.stdout.strip().splitlines()[-1])
    for f in ("config.json", "sub/vocab.txt", "model.safetensors"):
        assert (snap / f).read_bytes() == (src / f).read_bytes(), f
    # the regular file streamed from the store with a byte range, through replica B
    r = requests.get(
        f"{b.url}/alice/s3-model/resolve/main/sub/vocab.txt",
        headers={**ALICE, "Range": "bytes=9-16"}, timeout=30,
    )  # fmt: skip
    assert r.status_code == 206 and r.content == b"tok00001"


def test_concurrent_commits_through_two_replicas_lose_nothing(
    replica_factory: Any,
) -> None:
    a, b = replica_factory(), replica_factory()
    _create(a.url, "alice/busy")
    n = 12
    results: list[int] = []
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        url = (a, b)[i % 2].url
        barrier.wait()
        r = _commit(url, "alice/busy", {f"f{i:02d}.txt": f"file {i}".encode()})
        results.append(r.status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * n
    for srv in (a, b):
        tree = requests.get(
            f"{srv.url}/api/models/alice/busy/tree/main", headers=ALICE, timeout=30
        ).json()
        assert {e["path"] for e in tree} >= {f"f{i:02d}.txt" for i in range(n)}
        commits = requests.get(
            f"{srv.url}/api/models/alice/busy/commits/main", headers=ALICE, timeout=30
        ).json()
        assert len(commits) == n + 1  # + the initial commit: none lost, history linear


def test_stale_parent_commit_gets_412_through_the_other_replica(replica_factory: Any) -> None:
    a, b = replica_factory(), replica_factory()
    _create(a.url, "alice/race")
    head = _head(b.url, "alice/race")
    assert _commit(a.url, "alice/race", {"one.txt": b"1"}, parent=head).status_code == 200
    r = _commit(b.url, "alice/race", {"two.txt": b"2"}, parent=head)
    assert r.status_code == 412, r.text
    assert _commit(b.url, "alice/race", {"two.txt": b"2"}, parent=_head(b.url, "alice/race")).ok
    # the same race at once: exactly one wins
    head = _head(a.url, "alice/race")
    codes: list[int] = []
    barrier = threading.Barrier(2)

    def one(srv: HubServer, name: str) -> None:
        barrier.wait()
        codes.append(_commit(srv.url, "alice/race", {name: b"x"}, parent=head).status_code)

    ts = [threading.Thread(target=one, args=(s, f"{i}.txt")) for i, s in enumerate((a, b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(codes) == [200, 412]


def test_branch_and_tag_creation_is_compare_and_swap(replica_factory: Any) -> None:
    a, b = replica_factory(), replica_factory()
    _create(a.url, "alice/refs")
    url = "/api/models/alice/refs/branch/dev"
    assert requests.post(a.url + url, json={}, headers=ALICE, timeout=30).ok
    assert requests.post(b.url + url, json={}, headers=ALICE, timeout=30).status_code == 409
    assert requests.delete(b.url + url, headers=ALICE, timeout=30).ok
    refs = requests.get(f"{a.url}/api/models/alice/refs/refs", headers=ALICE, timeout=30).json()
    assert [br["name"] for br in refs["branches"]] == ["main"]


def test_mismatching_upload_is_never_visible(replica_factory: Any, object_store: ObjectStore,
                                             bucket: str) -> None:  # fmt: skip
    srv = replica_factory()
    st = srv.storage
    s3 = object_store.client()
    for size in (1000, 12 * 1024 * 1024):  # one PUT / a multipart upload of 2 parts
        good = os.urandom(size)
        oid = hashlib.sha256(good).hexdigest()
        bad = bytearray(good)
        bad[-1] ^= 1
        pieces = [bytes(bad[i : i + 1 << 20]) for i in range(0, size, 1 << 20)]
        with pytest.raises(StorageError) as e:
            st.receive_lfs(oid, size, pieces)
        assert e.value.status == 400
        assert not st.has_lfs(oid)
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"hub/blobs/sha256/{oid}")
        assert listed.get("KeyCount", 0) == 0
        assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")  # aborted
        st.receive_lfs(oid, size, [good])  # the right bytes go in, once
        st.receive_lfs(oid, size, [good])  # idempotent
        assert st.has_lfs(oid, size)
        got = s3.get_object(Bucket=bucket, Key=f"hub/blobs/sha256/{oid}")["Body"].read()
        assert got == good


def test_presign_redirects_to_the_store_without_the_token(
    replica_factory: Any, object_store: ObjectStore, tmp_path: Path
) -> None:
    a = replica_factory(lfs_threshold=1024)
    b = replica_factory(presign=True)
    data = os.urandom(300_000)
    a.seed_repo("alice/pre", {"config.json": "{}", "model.safetensors": data})
    r = requests.get(
        f"{b.url}/alice/pre/resolve/main/model.safetensors", headers=ALICE,
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert urlsplit(loc).netloc == urlsplit(object_store.url).netloc != urlsplit(b.url).netloc
    with object_store.lock:
        object_store.seen.clear()
    out = run_hf(
        """
        from huggingface_hub import hf_hub_download
        print(hf_hub_download("alice/pre", "model.safetensors", token="hf_alice_token"))
        """,
        hf_environment(b.url, tmp_path / "hf"),
    )
    assert Path(out.stdout.strip().splitlines()[-1]).read_bytes() == data
    with object_store.lock:
        seen = list(object_store.seen)
    presigned = [s for s in seen if "Signature" in s.path and s.method == "GET"]
    assert presigned, [s.path for s in seen]
    for s in seen:
        assert "hf_alice_token" not in json.dumps(s.headers) + s.path
    for s in presigned:
        assert "authorization" not in {k.lower() for k in s.headers}


def test_refused_without_conditional_writes(
    object_store: ObjectStore, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hubcli.server.store import open_storage, parse_storage_url
    from hubcli.server.store.s3client import S3Client

    real_put = S3Client.put

    def ignoring_conditions(self: S3Client, name: str, data: bytes, **_: Any) -> str:
        return real_put(self, name, data)

    monkeypatch.setattr(S3Client, "put", ignoring_conditions)
    url = parse_storage_url(f"s3://{bucket}/p")
    with pytest.raises(StorageError, match="conditional writes"):
        open_storage(url, s3_endpoint=object_store.url)
    store = open_storage(url, s3_endpoint=object_store.url, single_replica=True)
    assert not store.shared
