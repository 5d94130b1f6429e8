"""The byte mover against mocked responses: hashing, resume, Range quirks, ranged assembly."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import responses

from hubcli.config import Settings
from hubcli.errors import IntegrityError, ProtocolError
from hubcli.hashing import ContentHasher, verify_file
from hubcli.http import HubSession
from hubcli.transfer.engine import Transfer
from hubcli.transfer.job import FetchJob
from hubcli.transfer.partial import state_path_for

BASE = "https://hub.test"
DATA = bytes(range(256)) * 4000  # 1,024,000 bytes
SHA = hashlib.sha256(DATA).hexdigest()
URL = f"{BASE}/org/m/resolve/{'c' * 40}/w.bin"


def make_transfer(**kw: Any) -> Transfer:
    session = HubSession(Settings(endpoint=BASE), max_retries=0, sleep=lambda s: None)
    return Transfer(session, sleep=lambda s: None, **kw)


def job(tmp: Path) -> FetchJob:
    return FetchJob(target=URL, tmp=tmp, size=len(DATA), etag=SHA, key="k", label="w")


def range_callback(data: bytes, *, honour: bool = True, log: list[str] | None = None) -> Any:
    def cb(request: Any) -> tuple[int, dict[str, str], bytes]:
        rng = request.headers.get("Range")
        if log is not None:
            log.append(rng or "")
        m = re.match(r"bytes=(\d+)-(\d*)", rng or "")
        if not honour or not m:
            return 200, {"Content-Length": str(len(data))}, data
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else len(data) - 1
        body = data[start : end + 1]
        return 206, {"Content-Range": f"bytes {start}-{end}/{len(data)}"}, body

    return cb


def test_content_hasher_kinds() -> None:
    h = ContentHasher(SHA, len(DATA))
    h.update(DATA)
    assert h.matches() and h.algorithm == "sha256"
    git = hashlib.sha1(b"blob 3\0abc").hexdigest()
    h = ContentHasher(git.upper(), 3)
    h.update(b"abc")
    assert h.matches() and h.algorithm == "git-sha1"
    # An etag that names no hash is refused: nothing may be placed unverified.
    for bad in ("opaque-etag", "d41d8cd98f00b204e9800998ecf8427e", "../../x", "g" * 40):
        with pytest.raises(ProtocolError):
            ContentHasher(bad, 3)


@responses.activate
def test_sequential_resumes_from_prefix_on_disk(tmp_path: Path) -> None:
    log: list[str] = []
    responses.add_callback(responses.GET, URL, callback=range_callback(DATA, log=log))
    tmp = tmp_path / f"{SHA}.incomplete"
    tmp.write_bytes(DATA[:300_000])
    r = make_transfer().fetch(job(tmp))
    assert tmp.read_bytes() == DATA
    assert log == ["bytes=300000-"]
    assert (r.reused_bytes, r.fetched_bytes) == (300_000, len(DATA) - 300_000)


@responses.activate
def test_server_ignoring_range_restarts_cleanly(tmp_path: Path) -> None:
    responses.add_callback(responses.GET, URL, callback=range_callback(DATA, honour=False))
    tmp = tmp_path / f"{SHA}.incomplete"
    tmp.write_bytes(DATA[:300_000])
    r = make_transfer().fetch(job(tmp))
    assert tmp.read_bytes() == DATA
    assert r.fetched_bytes == len(DATA)


@responses.activate
def test_ranged_ignoring_range_falls_back_to_one_stream(tmp_path: Path) -> None:
    responses.add_callback(responses.GET, URL, callback=range_callback(DATA, honour=False))
    tmp = tmp_path / f"{SHA}.incomplete"
    xfer = make_transfer(range_threshold=1000, part_size=100_000)
    r = xfer.fetch(job(tmp))
    assert tmp.read_bytes() == DATA and not r.ranged
    assert not state_path_for(tmp).exists()


@responses.activate
def test_wrong_content_range_start_is_an_error(tmp_path: Path) -> None:
    responses.add(
        responses.GET,
        URL,
        body=DATA[:10],
        status=206,
        headers={"Content-Range": f"bytes 0-9/{len(DATA)}"},
    )
    tmp = tmp_path / f"{SHA}.incomplete"
    tmp.write_bytes(DATA[:500])
    with pytest.raises(ProtocolError, match="asked for bytes from 500"):
        make_transfer().fetch(job(tmp))


@responses.activate
def test_hash_mismatch_deletes_the_bytes(tmp_path: Path) -> None:
    bad = b"\0" * len(DATA)
    responses.add_callback(responses.GET, URL, callback=range_callback(bad))
    tmp = tmp_path / f"{SHA}.incomplete"
    with pytest.raises(IntegrityError, match="does not match"):
        make_transfer().fetch(job(tmp))
    assert not tmp.exists()


@responses.activate
def test_ranged_assembles_parts_in_parallel(tmp_path: Path) -> None:
    log: list[str] = []
    responses.add_callback(responses.GET, URL, callback=range_callback(DATA, log=log))
    tmp = tmp_path / f"{SHA}.incomplete"
    xfer = make_transfer(range_threshold=1000, part_size=100_000, range_workers=4)
    r = xfer.fetch(job(tmp))
    assert r.ranged and r.fetched_bytes == len(DATA)
    assert tmp.read_bytes() == DATA
    assert len(log) == 11 and all(x.startswith("bytes=") for x in log)


@responses.activate
def test_ranged_resumes_from_state(tmp_path: Path) -> None:
    log: list[str] = []
    responses.add_callback(responses.GET, URL, callback=range_callback(DATA, log=log))
    tmp = tmp_path / f"{SHA}.incomplete"
    part = 100_000
    done = [part] * 5 + [40_000] + [0] * 5  # parts 0-4 complete, part 5 partly
    buf = bytearray(len(DATA))
    for i, d in enumerate(done):
        buf[i * part : i * part + d] = DATA[i * part : i * part + d]
    tmp.write_bytes(bytes(buf))
    state = {"version": 1, "etag": SHA, "size": len(DATA), "part_size": part, "done": done}
    state_path_for(tmp).write_text(json.dumps(state))
    xfer = make_transfer(range_threshold=10**9, part_size=part, range_workers=3)
    r = xfer.fetch(job(tmp))
    assert tmp.read_bytes() == DATA
    assert r.reused_bytes == 540_000 and r.fetched_bytes == len(DATA) - 540_000
    assert "bytes=540000-599999" in log and not any(x.startswith("bytes=0-") for x in log)


def test_verify_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(DATA)
    assert verify_file(p, SHA, size=len(DATA))
    assert verify_file(p, SHA)
    assert not verify_file(p, SHA, size=len(DATA) + 1)
    assert not verify_file(tmp_path / "missing", SHA, size=1)
    assert not verify_file(p, "opaque-etag")
