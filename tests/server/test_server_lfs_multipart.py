"""Multipart LFS uploads on the local hub: parts land in place, in any order, and are verified."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any
from urllib.parse import urlsplit

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


def _raw_put_start(url: str, length: int, first: bytes) -> socket.socket:
    """Start a PUT of ``length`` bytes and send only ``first``: a connection still sending."""
    u = urlsplit(url)
    sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=5)
    head = f"PUT {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {length}\r\n\r\n"
    sock.sendall(head.encode() + first)
    return sock


def _raw_status(sock: socket.socket) -> int:
    with sock, sock.makefile("rb") as f:
        return int(f.readline().split()[1])


def test_a_part_sent_again_replaces_a_connection_still_sending_it(
    hub_server: HubFixture,
) -> None:
    data = os.urandom(CHUNK * 3)
    up = _start(hub_server, data)
    parts = _parts(data)
    old = _raw_put_start(up["header"]["2"], CHUNK, os.urandom(CHUNK // 2))  # other bytes
    time.sleep(0.2)  # the server is writing the old body
    etags = {n: _put(up, n, body).headers["ETag"] for n, body in parts.items()}  # no 409
    old.sendall(os.urandom(CHUNK - CHUNK // 2))
    assert _raw_status(old) == 409  # the old writer was cut off, its bytes are not kept
    assert _complete(up, etags).status_code == 200
    assert hub_server.storage.lfs_path(up["oid"]).read_bytes() == data


def _restart(hub: HubFixture) -> HubFixture:
    hub.stop()
    ports = {"port": hub.state.api_port, "cdn_port": hub.state.cdn_port}
    return HubFixture(hub.root, **ports).start()


def test_open_uploads_survive_a_restart_with_the_same_urls_and_parts(
    hub_server_factory: Any,
) -> None:
    hub = hub_server_factory()
    data = os.urandom(CHUNK * 3)
    up = _start(hub, data)
    parts = _parts(data)
    etags = {n: _put(up, n, parts[n]).headers["ETag"] for n in (1, 2)}
    hub = _restart(hub)
    try:
        again = _start(hub, data)
        assert (again["href"], again["header"]) == (up["href"], up["header"])
        etags[3] = _put(up, 3, parts[3]).headers["ETag"]
        assert _complete(up, etags).status_code == 200  # parts 1 and 2 from before the restart
        assert hub.storage.lfs_path(up["oid"]).read_bytes() == data
        assert not list((hub.root / "uploads").iterdir())
    finally:
        hub.stop()


def test_restart_drops_expired_and_broken_uploads_and_ignores_a_torn_journal_line(
    hub_server_factory: Any,
) -> None:
    hub = hub_server_factory()
    data = os.urandom(CHUNK * 3)
    up = _start(hub, data)
    parts = _parts(data)
    etags = {n: _put(up, n, parts[n]).headers["ETag"] for n in (1, 2)}
    (session,) = (hub.root / "uploads").iterdir()
    with open(session / "parts.log", "a") as f:
        f.write('3 "abc')  # a line cut by a crash
    (hub.root / "uploads" / "junk").mkdir()
    hub = _restart(hub)
    try:
        assert not (hub.root / "uploads" / "junk").exists()
        etags[3] = _put(up, 3, parts[3]).headers["ETag"]
        assert _complete(up, etags).status_code == 200
        up2 = _start(hub, data[:-1])  # another object: a new session, then it expires
        (session,) = (hub.root / "uploads").iterdir()
        meta = json.loads((session / "session.json").read_text())
        meta["created"] -= 2 * 24 * 3600
        (session / "session.json").write_text(json.dumps(meta))
        for name in ("data", "parts.log", "session.json"):
            if (session / name).exists():
                os.utime(session / name, (meta["created"], meta["created"]))
        hub = _restart(hub)
        assert not session.exists()
        assert _put(up2, 1, data[:CHUNK]).status_code == 404  # its URLs are gone
        assert _start(hub, data[:-1])["href"] != up2["href"]
    finally:
        hub.stop()
