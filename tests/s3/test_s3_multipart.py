"""Multipart LFS uploads on an object store (docs/storage.md, "Multipart uploads"): the parts go
straight into the store's multipart upload (through a replica, or presigned from the client),
the session lives in the store, so the completion works through any replica and a replica that
dies mid-upload loses nothing; the sha256 is checked before the object becomes visible."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.fixtures.hub import hf_environment, run_hf
from tests.s3.conftest import ObjectStore

ALICE = {"Authorization": "Bearer hf_alice_token"}
MIB = 1 << 20
KNOBS = {"lfs_threshold": 1024, "multipart_threshold": 6 * MIB, "multipart_chunk_size": 5 * MIB}


def _upload(url: str, home: Path, repo: str, src: Path, create: bool = True) -> None:
    run_hf(
        f"""
        from huggingface_hub import HfApi
        api = HfApi(token="hf_alice_token")
        if {create!r}:
            api.create_repo({repo!r})
        api.upload_folder(repo_id={repo!r}, folder_path={str(src)!r})
        """,
        hf_environment(url, home),
    )


def _download(url: str, home: Path, repo: str) -> Path:
    out = run_hf(
        f"""
        from huggingface_hub import snapshot_download
        print(snapshot_download({repo!r}, token="hf_alice_token"))
        """,
        hf_environment(url, home),
    )
    return Path(out.stdout.strip().splitlines()[-1])


def _store_state(s3: Any, bucket: str) -> tuple[list[str], list[Any]]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return keys, s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_hf_multipart_parts_through_one_replica_completed_through_the_other(
    balanced: Any, object_store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    lb, (a, b) = balanced(2, **KNOBS)
    # parts round-robin over both replicas; the batch call to A, the completion to B
    lb.pick = lambda m, p: 1 if "/_lfs/complete/" in p else (0 if "/batch" in p else None)
    src = tmp_path / "model"
    src.mkdir()
    big = os.urandom(12 * MIB + 77)  # 3 parts of 5, 5 and 2 MiB
    (src / "model.safetensors").write_bytes(big)
    (src / "config.json").write_text("{}")
    _upload(lb.api, tmp_path / "hf_up", "alice/mp", src)
    parts = [(i, p) for i, m, p in lb.log if m == "PUT" and "/_lfs/part/" in p]
    assert len(parts) == 3 and {i for i, _ in parts} == {0, 1}, lb.log
    assert [i for i, m, p in lb.log if "/_lfs/complete/" in p] == [1]
    snap = _download(lb.api, tmp_path / "hf_down", "alice/mp")
    assert (snap / "model.safetensors").read_bytes() == big
    s3 = object_store.client()
    keys, uploads = _store_state(s3, bucket)
    oid = hashlib.sha256(big).hexdigest()
    assert f"hub/blobs/sha256/{oid}" in keys
    assert not [k for k in keys if k.startswith("hub/uploads/staging/")]  # copied, then deleted
    assert not [k for k in keys if k.startswith("hub/uploads/pending/")]
    assert not uploads
    # nothing was assembled on either replica's scratch disk
    for srv in (a, b):
        assert not [p for p in srv.root.rglob("*") if p.is_file() and p.stat().st_size >= MIB]


def test_presigned_parts_go_straight_to_the_store(
    balanced: Any, object_store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    lb, _ = balanced(2, presign=True, **KNOBS)
    lb.pick = lambda m, p: 1 if "/_lfs/complete/" in p else None
    src = tmp_path / "model"
    src.mkdir()
    big = os.urandom(11 * MIB)
    (src / "weights.bin").write_bytes(big)
    with object_store.lock:
        object_store.seen.clear()
    _upload(lb.api, tmp_path / "hf_up", "alice/pre-mp", src)
    assert not [p for _, m, p in lb.log if "/_lfs/part/" in p]  # no part through a replica
    with object_store.lock:
        seen = list(object_store.seen)
    direct = [s for s in seen if s.method == "PUT" and "partNumber=" in s.path]
    direct = [s for s in direct if "Signature" in s.path]
    assert len(direct) == 3, [(s.method, s.path[:80]) for s in seen]
    for s in seen:
        assert "hf_alice_token" not in json.dumps(s.headers) + s.path
    for s in direct:
        assert "authorization" not in {k.lower() for k in s.headers}
        assert urlsplit(s.path).path.startswith(f"/{bucket}/hub/uploads/staging/")
    # the completion read the object back once, to hash it
    reads = [s for s in seen if s.method == "GET" and "/uploads/staging/" in s.path]
    assert len(reads) == 1
    snap = _download(lb.api, tmp_path / "hf_down", "alice/pre-mp")
    assert (snap / "weights.bin").read_bytes() == big


def test_replica_dies_mid_upload_the_rerun_through_the_other_completes(
    balanced: Any, object_store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    lb, (a, _b) = balanced(2, **KNOBS)
    lb.pick = lambda m, p: 0  # everything to A while it lives
    requests.post(
        f"{lb.api}/api/repos/create", json={"name": "dies"}, headers=ALICE, timeout=30
    ).raise_for_status()
    big = os.urandom(12 * MIB)
    oid = hashlib.sha256(big).hexdigest()
    batch = requests.post(
        f"{lb.api}/alice/dies.git/info/lfs/objects/batch", headers=ALICE, timeout=30,
        json={"operation": "upload", "transfers": ["basic", "multipart"],
              "objects": [{"oid": oid, "size": len(big)}]},
    )  # fmt: skip
    batch.raise_for_status()
    upload = batch.json()["objects"][0]["actions"]["upload"]
    chunk = int(upload["header"]["chunk_size"])
    r = requests.put(upload["header"]["1"], data=big[:chunk], timeout=60)
    assert r.status_code == 200 and r.headers["ETag"]
    a.stop()  # A dies with part 1 sent: the part is in the store, not on A
    lb.down.add(0)
    lb.pick = lambda m, p: None
    src = tmp_path / "model"
    src.mkdir()
    (src / "big.bin").write_bytes(big)
    _upload(lb.api, tmp_path / "hf", "alice/dies", src, create=False)  # the client's rerun
    rerun = [p for i, m, p in lb.log if "/_lfs/complete/" in p]
    assert rerun == [urlsplit(upload["href"]).path]  # the same session was handed out again
    snap = _download(lb.api, tmp_path / "hf_down", "alice/dies")
    assert (snap / "big.bin").read_bytes() == big
    keys, uploads = _store_state(object_store.client(), bucket)
    assert not uploads and not [k for k in keys if "/staging/" in k]


def test_multipart_with_wrong_bytes_is_never_visible(
    balanced: Any, object_store: ObjectStore, bucket: str
) -> None:
    lb, _ = balanced(2, **KNOBS)
    requests.post(
        f"{lb.api}/api/repos/create", json={"name": "bad"}, headers=ALICE, timeout=30
    ).raise_for_status()
    good = os.urandom(7 * MIB)
    oid = hashlib.sha256(good).hexdigest()
    bad = bytearray(good)
    bad[3] ^= 1
    batch = requests.post(
        f"{lb.api}/alice/bad.git/info/lfs/objects/batch", headers=ALICE, timeout=30,
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(good)}]},
    ).json()  # fmt: skip
    upload = batch["objects"][0]["actions"]["upload"]
    chunk = int(upload["header"]["chunk_size"])
    # a part of the wrong length is refused at once
    r = requests.put(upload["header"]["2"], data=b"x", timeout=30)
    assert r.status_code == 400
    etags = []
    for n, start in enumerate(range(0, len(bad), chunk), 1):
        r = requests.put(upload["header"][str(n)], data=bytes(bad[start : start + chunk]))
        assert r.status_code == 200
        etags.append({"partNumber": n, "etag": r.headers["ETag"]})
    wrong = [{"partNumber": 1, "etag": '"0"'}, etags[1]]
    r = requests.post(upload["href"], json={"oid": oid, "parts": wrong}, timeout=30)
    assert r.status_code == 400  # the store checks the part ETags; the upload stays open
    r = requests.post(upload["href"], json={"oid": oid, "parts": etags}, timeout=30)
    assert r.status_code == 400, r.text  # the sha256 does not match
    keys, uploads = _store_state(object_store.client(), bucket)
    assert f"hub/blobs/sha256/{oid}" not in keys
    assert not uploads and not [k for k in keys if "/staging/" in k or "/pending/" in k]
    verify = batch["objects"][0]["actions"]["verify"]["href"]
    r = requests.post(verify, json={"oid": oid, "size": len(good)}, headers=ALICE, timeout=30)
    assert r.status_code == 404
