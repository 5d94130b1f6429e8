"""Repo administration on a shared object store: PR numbers unique across replicas (one CAS
update of the repo document), repo deletion removes its commits and index (blobs stay)."""

from __future__ import annotations

import threading
from typing import Any

import requests

from tests.s3.conftest import ObjectStore
from tests.s3.test_s3_replicas import ALICE, _commit, _create


def test_pr_numbers_are_unique_across_replicas(replica_factory: Any) -> None:
    a, b = replica_factory(), replica_factory()
    _create(a.url, "alice/prs")
    n = 10
    nums: list[int] = []
    barrier = threading.Barrier(n)

    def one(i: int) -> None:
        srv = (a, b)[i % 2]
        barrier.wait()
        r = requests.post(
            f"{srv.url}/api/models/alice/prs/discussions", headers=ALICE, timeout=60,
            json={"title": f"pr {i}", "pullRequest": True},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        nums.append(r.json()["num"])

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(nums) == list(range(1, n + 1))
    # a settings change through a replica that had read the repo before keeps every PR
    r = requests.put(
        f"{b.url}/api/models/alice/prs/settings", json={"private": True}, headers=ALICE,
        timeout=30,
    )  # fmt: skip
    assert r.ok, r.text
    refs = requests.get(
        f"{a.url}/api/models/alice/prs/refs?include_prs=1", headers=ALICE, timeout=30
    ).json()
    assert len(refs["pullRequests"]) == n
    for i in range(1, n + 1):
        got = requests.get(
            f"{a.url}/api/models/alice/prs/discussions/{i}", headers=ALICE, timeout=30
        )
        assert got.status_code == 200


def test_deleting_a_repo_removes_its_commits_and_index(
    replica_factory: Any, object_store: ObjectStore, bucket: str
) -> None:
    a, b = replica_factory(lfs_threshold=1024), replica_factory()
    a.seed_repo("alice/gone", {"w.bin": b"w" * 5000, "a.txt": "a"})
    a.seed_repo("alice/kept", {"w.bin": b"w" * 5000})
    s3 = object_store.client()

    def keys(prefix: str) -> list[str]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"hub/{prefix}")
        return [o["Key"] for o in listed.get("Contents", [])]

    rid = b.storage.get_repo("model", "alice/gone").meta["_id"]
    assert keys(f"commits/{rid}/") and keys(f"lfs-index/{rid}/")
    blobs = keys("blobs/")
    r = requests.delete(
        f"{b.url}/api/repos/delete", json={"name": "gone", "organization": "alice"},
        headers=ALICE, timeout=30,
    )  # fmt: skip
    assert r.ok, r.text
    assert not keys(f"commits/{rid}/") and not keys(f"lfs-index/{rid}/")
    assert keys("blobs/") == blobs  # blobs stay (shared; no gc)
    assert requests.get(f"{a.url}/api/models/alice/gone", headers=ALICE).status_code == 404
    assert requests.get(f"{a.url}/alice/kept/resolve/main/w.bin", headers=ALICE).ok
    _create(a.url, "alice/gone")  # the name can be used again, with a new _id
    assert _commit(b.url, "alice/gone", {"n.txt": b"new"}).ok
