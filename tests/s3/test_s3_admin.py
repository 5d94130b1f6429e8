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


def test_listing_reads_only_the_repo_documents_that_changed(
    replica_factory: Any, object_store: ObjectStore
) -> None:
    """A listing is one LIST of the repo documents plus a GET for each one whose ETag changed
    since this replica last listed: not one GET per repo every time."""
    a, b = replica_factory(), replica_factory()
    for i in range(6):
        _create(a.url, f"alice/list{i}")

    def listing(srv: Any) -> tuple[list[str], list[str]]:
        object_store.seen.clear()
        r = requests.get(f"{srv.url}/api/models", params={"author": "alice"}, timeout=60)
        assert r.status_code == 200, r.text
        gets = [s.path for s in object_store.seen if s.method == "GET" and "/repos/" in s.path]
        return sorted(m["id"] for m in r.json()), gets

    ids, gets = listing(b)
    assert ids == [f"alice/list{i}" for i in range(6)]
    assert len(gets) == 6  # first listing on this replica: every document once
    assert listing(b) == (ids, [])  # nothing changed: the LIST alone
    # a change through the other replica: that one document is read again, and it shows
    r = requests.put(
        f"{a.url}/api/models/alice/list3/settings", json={"private": True}, headers=ALICE,
        timeout=60,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    ids_after, gets = listing(b)
    assert [g for g in gets if "list3" in g] and len(gets) == 1, gets
    assert "alice/list3" not in ids_after  # private now: hidden from an anonymous listing
