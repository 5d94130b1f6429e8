"""Multipart LFS uploads on the local hub: parts land in place, in any order, and are verified."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import requests

from tests.fixtures.hub import HubFixture

ALICE = {"Authorization": "Bearer hf_alice_token"}
CHUNK = 600


def _start(hub: HubFixture, data: bytes) -> dict[str, Any]:
    hub.seed_repo("alice/mp", {"a.txt": "a"})
    hub.set_knobs(multipart_threshold=1000, multipart_chunk_size=CHUNK)
    oid = hashlib.sha256(data).hexdigest()
    r = requests.post(
        f"{hub.url}/alice/mp.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
        headers=ALICE,
        timeout=5,
    )
    upload: dict[str, Any] = r.json()["objects"][0]["actions"]["upload"]
    upload["oid"] = oid
    return upload


def _put(upload: dict[str, Any], n: int, body: bytes) -> requests.Response:
    return requests.put(upload["header"][str(n)], data=body, timeout=5)


def _complete(upload: dict[str, Any], etags: dict[int, str]) -> requests.Response:
    parts = [{"partNumber": n, "etag": etags[n]} for n in sorted(etags)]
    return requests.post(upload["href"], json={"oid": upload["oid"], "parts": parts}, timeout=5)


def _parts(data: bytes) -> dict[int, bytes]:
    return {i // CHUNK + 1: data[i : i + CHUNK] for i in range(0, len(data), CHUNK)}


def test_parts_in_reverse_order_assemble_to_the_object(hub_server: HubFixture) -> None:
    data = os.urandom(CHUNK * 4 + 123)  # 5 parts, the last one short
    up = _start(hub_server, data)
    etags = {n: _put(up, n, body).headers["ETag"] for n, body in sorted(_parts(data).items())[::-1]}
    r = _complete(up, etags)
    assert r.status_code == 200, r.text
    path = hub_server.storage.lfs_path(up["oid"])
    assert path.read_bytes() == data


def test_a_part_sent_again_with_other_bytes_is_rehashed(hub_server: HubFixture) -> None:
    data = os.urandom(CHUNK * 3)
    up = _start(hub_server, data)
    parts = _parts(data)
    etags = {n: _put(up, n, body).headers["ETag"] for n, body in parts.items()}
    bad = _put(up, 1, os.urandom(CHUNK))  # replaces part 1 after it was hashed
    etags[1] = bad.headers["ETag"]
    r = _complete(up, etags)
    assert r.status_code == 400 and "does not match" in r.text
    assert not hub_server.storage.has_lfs(up["oid"])
    etags[1] = _put(up, 1, parts[1]).headers["ETag"]  # the right bytes again: completes
    assert _complete(up, etags).status_code == 200
    assert hub_server.storage.lfs_path(up["oid"]).read_bytes() == data


def test_oversized_or_short_part_is_refused_and_not_counted(hub_server: HubFixture) -> None:
    data = os.urandom(CHUNK * 2 + 10)
    up = _start(hub_server, data)
    parts = _parts(data)
    assert _put(up, 1, parts[1] + b"x" * 50).status_code == 400  # would spill into part 2
    assert _put(up, 2, parts[2][:-1]).status_code == 400
    etags = {3: _put(up, 3, parts[3]).headers["ETag"]}
    assert _complete(up, {1: '"nope"', 2: '"nope"', **etags}).status_code == 400
    etags.update({n: _put(up, n, parts[n]).headers["ETag"] for n in (1, 2)})
    assert _complete(up, {1: etags[1], 2: '"stale"', 3: etags[3]}).status_code == 400
    assert _complete(up, etags).status_code == 200
    assert hub_server.storage.lfs_path(up["oid"]).read_bytes() == data


def test_upload_bandwidth_knob_paces_request_bodies(hub_server: HubFixture) -> None:
    data = os.urandom(CHUNK * 2 + 1)
    up = _start(hub_server, data)
    hub_server.set_knobs(upload_bandwidth_mbps=0.004)  # 4,000 B/s: a 600-byte part >= 0.15 s
    start = time.monotonic()
    etags = {n: _put(up, n, body).headers["ETag"] for n, body in _parts(data).items()}
    assert time.monotonic() - start >= 0.25  # 1,201 bytes at 4,000 B/s
    hub_server.set_knobs(upload_bandwidth_mbps=0)
    assert _complete(up, etags).status_code == 200


def test_preupload_modes_follow_size_builtin_patterns_and_gitattributes(
    hub_server: HubFixture,
) -> None:
    attrs = "data/*.csv filter=lfs diff=lfs merge=lfs -text\n*.[Mm]odel filter=lfs -text\n"
    hub_server.seed_repo("alice/modes", {".gitattributes": attrs, "a.txt": "a"})
    hub_server.set_knobs(lfs_threshold=1000)
    files = {
        "w.safetensors": 10,  # built-in pattern
        "sub/x.bin": 10,
        "data/t.csv": 10,  # .gitattributes path pattern (anchored: not q/data/t.csv)
        "q/data/t.csv": 10,
        "m.Model": 10,  # .gitattributes name pattern, case-sensitive
        "m.MODEL": 10,
        "notes.txt": 10,
        "big.txt": 1000,  # at the size threshold
        "dir.bin/inner.txt": 10,  # a folder named like a pattern does not count
    }
    body = {"files": [{"path": p, "size": n, "sample": ""} for p, n in files.items()]}
    r = requests.post(
        f"{hub_server.url}/api/models/alice/modes/preupload/main",
        json=body,
        headers=ALICE,
        timeout=5,
    )
    modes = {f["path"]: f["uploadMode"] for f in r.json()["files"]}
    lfs = {p for p, m in modes.items() if m == "lfs"}
    assert lfs == {"w.safetensors", "sub/x.bin", "data/t.csv", "m.Model", "big.txt"}
