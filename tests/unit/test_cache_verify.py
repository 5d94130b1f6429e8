"""verify_cache hashing: small blobs hashed inline and large ones in a pool are both checked, each
blob once, with the same findings and counts."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from hubcli.cache import verify as verify_mod
from hubcli.cache.verify import SMALL_BLOB, verify_cache

C1 = "1" * 40
C2 = "2" * 40
REPO = "models--alice--m"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FILES: dict[str, tuple[bytes, bool]] = {  # path -> (content, LFS: sha256-named)
    "README.md": (b"# hello\n", False),
    "empty.txt": (b"", False),
    "sub/config.json": (b'{"a": 1}\n' * 50, False),
    "tiny.bin": (b"\x00\x01" * 100, True),
    "big.bin": (os.urandom(SMALL_BLOB + 12345), True),
    "big.txt": (b"x" * (SMALL_BLOB + 1), False),
    "exact.bin": (os.urandom(SMALL_BLOB), True),
}


def build(cache: Path, files: dict[str, tuple[bytes, bool]], commits: tuple[str, ...]) -> Path:
    """A huggingface_hub-layout repo: blobs/<etag>, relative snapshot links, refs/main."""
    repo = cache / REPO
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commits[-1])
    for path, (data, lfs) in files.items():
        etag = sha256(data) if lfs else git_sha1(data)
        blob = repo / "blobs" / etag
        blob.write_bytes(data)
        for commit in commits:
            link = repo / "snapshots" / commit / path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
    return repo


def blob_of(repo: Path, path: str, commit: str = C1) -> Path:
    return repo / "blobs" / os.readlink(repo / "snapshots" / commit / path).rsplit("/", 1)[-1]


@pytest.mark.parametrize("workers", [1, 8])
def test_healthy_cache_hashes_every_blob_once(tmp_path: Path, workers: int) -> None:
    build(tmp_path, FILES, (C1, C2))
    seen: list[int] = []
    report = verify_cache(tmp_path, workers=workers, on_progress=seen.append)
    assert report.ok and report.problems == []
    assert (report.repos, report.revisions, report.files) == (1, 2, 2 * len(FILES))
    assert report.blobs_hashed == len(FILES)
    assert report.bytes_hashed == sum(len(data) for data, _ in FILES.values())
    assert seen == list(range(1, len(FILES) + 1))


def test_corrupt_small_and_large_blobs_are_all_found(tmp_path: Path) -> None:
    repo = build(tmp_path, FILES, (C1, C2))

    def flip(path: str) -> None:  # same size, one byte changed
        blob = blob_of(repo, path)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))

    flip("sub/config.json")  # small git blob
    flip("tiny.bin")  # small sha256 blob
    flip("big.bin")  # large sha256 blob (pool)
    flip("big.txt")  # large git blob (pool)
    with blob_of(repo, "README.md").open("ab") as f:  # grown
        f.write(b"more")
    blob_of(repo, "exact.bin").write_bytes(b"short")  # shrunk
    blob_of(repo, "empty.txt").write_bytes(b"not empty any more")
    report = verify_cache(tmp_path, workers=2)
    bad = sorted((p.commit, p.path) for p in report.failures)
    assert bad == sorted((c, p) for c in (C1, C2) for p in FILES)
    assert {p.kind for p in report.problems} == {"corrupt"}
    for p in report.problems:
        data, lfs = FILES[p.path]
        assert p.etag == (sha256(data) if lfs else git_sha1(data))
        assert p.detail.startswith("content hashes to ")
        actual = blob_of(repo, p.path).read_bytes()
        assert p.detail.endswith(sha256(actual) if lfs else git_sha1(actual))
    assert report.blobs_hashed == len(FILES)


def test_one_corrupt_blob_among_many(tmp_path: Path) -> None:
    files = {f"d/f{i:03d}.txt": (b"%d\n" % i, False) for i in range(300)}
    files["weights.bin"] = (os.urandom(SMALL_BLOB * 2), True)
    repo = build(tmp_path, files, (C1,))
    blob_of(repo, "d/f123.txt").write_bytes(b"124\n")
    blob_of(repo, "weights.bin").write_bytes(os.urandom(SMALL_BLOB * 2))
    report = verify_cache(tmp_path)
    assert sorted(p.path for p in report.failures) == ["d/f123.txt", "weights.bin"]
    assert report.blobs_hashed == 301


def test_blob_growing_past_the_inline_limit_is_still_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan saw a small blob; by hashing time it is large: it is streamed, not cut short."""
    repo = build(tmp_path, {"a.bin": (b"abc", True)}, (C1,))
    blob = blob_of(repo, "a.bin")
    real = verify_mod._digest_small

    def grow_then_hash(path: str, etag: str, size: int, view: memoryview) -> tuple[str | None, int]:
        blob.write_bytes(b"abc" * SMALL_BLOB)
        return real(path, etag, size, view)

    monkeypatch.setattr(verify_mod, "_digest_small", grow_then_hash)
    report = verify_cache(tmp_path)
    (problem,) = report.failures
    assert problem.detail == f"content hashes to {sha256(b'abc' * SMALL_BLOB)}"
    assert report.bytes_hashed == 3 * SMALL_BLOB


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_small_and_large_blobs(tmp_path: Path) -> None:
    repo = build(tmp_path, FILES, (C1,))
    for path in ("README.md", "big.bin"):
        blob_of(repo, path).chmod(0)
    report = verify_cache(tmp_path)
    assert sorted((p.path, p.detail) for p in report.failures) == [
        ("README.md", "cannot read the blob"),
        ("big.bin", "cannot read the blob"),
    ]


def test_blobs_gone_after_the_scan_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = build(tmp_path, FILES, (C1,))
    gone_paths = ("README.md", "big.bin")
    gone = [blob_of(repo, p) for p in gone_paths]
    real = verify_mod.scan_cache

    def scan_then_delete(*args: Any, **kwargs: Any) -> Any:
        scan = real(*args, **kwargs)
        for blob in gone:
            blob.unlink()
        return scan

    monkeypatch.setattr(verify_mod, "scan_cache", scan_then_delete)
    report = verify_cache(tmp_path)
    assert sorted((p.path, p.kind, p.detail) for p in report.failures) == [
        ("README.md", "corrupt", "cannot read the blob"),
        ("big.bin", "corrupt", "cannot read the blob"),
    ]
    assert report.blobs_hashed == len(FILES)
    assert report.bytes_hashed == sum(len(d) for p, (d, _) in FILES.items() if p not in gone_paths)
