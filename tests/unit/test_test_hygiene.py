"""The test bed's own promises: no socket beyond loopback, and the two cache scans agree."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hubcli.cache.scan import scan_cache

# TEST-NET-1 (RFC 5737): documentation-only. The guard refuses before any packet is sent.
NOT_LOOPBACK = ("192.0.2.1", 9)


def test_socket_guard_refuses_non_loopback_in_process() -> None:
    with pytest.raises(ConnectionRefusedError, match="socket guard"):
        socket.create_connection(NOT_LOOPBACK, timeout=0.1)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    with srv, socket.create_connection(srv.getsockname(), timeout=1):
        pass  # loopback is fine


def test_socket_guard_reaches_child_processes() -> None:
    code = f"import socket; socket.create_connection({NOT_LOOPBACK!r}, timeout=0.1)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "socket guard" in proc.stderr


def _blob(repo: Path, data: bytes) -> str:
    etag = hashlib.sha256(data).hexdigest()
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "blobs" / etag).write_bytes(data)
    return etag


def _cache(root: Path) -> Path:
    """Two repos, two revisions, a shared blob, a copy (no-symlink) file, a partial, a ref."""
    for name, commits in (("models--a--x", ("1" * 40, "2" * 40)), ("datasets--b--y", ("3" * 40,))):
        repo = root / name
        shared = _blob(repo, b"shared" * 100)
        for i, commit in enumerate(commits):
            snap = repo / "snapshots" / commit / "sub"
            snap.mkdir(parents=True)
            own = _blob(repo, f"{name}{i}".encode() * 50)
            os.symlink(f"../../../blobs/{own}", snap / "own.bin")
            os.symlink(f"../../blobs/{shared}", snap.parent / "shared.bin")
            (snap.parent / "copy.txt").write_text(f"plain copy {i}")
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(commits[-1])
        (repo / "blobs" / ("f" * 64 + ".incomplete")).write_bytes(b"x" * 10)
    return root


def test_fast_and_detailed_scans_agree(tmp_path: Path) -> None:
    root = _cache(tmp_path / "hub")
    fast, full = scan_cache(root, detail=False), scan_cache(root, detail=True)
    assert (fast.size, fast.shared, fast.incomplete, fast.warnings) == (
        full.size,
        full.shared,
        full.incomplete,
        full.warnings,
    )
    assert [r.ref for r in fast.repos] == [r.ref for r in full.repos]
    for a, b in zip(fast.repos, full.repos, strict=True):
        same = ("refs", "blobs", "incomplete", "size", "last_accessed", "last_modified")
        assert {k: getattr(a, k) for k in same} == {k: getattr(b, k) for k in same}
        for ra, rb in zip(a.revisions, b.revisions, strict=True):
            da, db = dataclasses.asdict(ra), dataclasses.asdict(rb)
            assert da.pop("files") == () and len(db.pop("files")) == rb.nb_files == 3
            assert da == db
