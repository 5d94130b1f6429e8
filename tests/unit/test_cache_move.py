"""hubcli.cache.move: resumable, verified, dedup-keeping moves; the shared store follows."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubcli.cache import move as move_mod
from hubcli.cache.move import move_cache
from hubcli.cache.scan import scan_cache
from hubcli.errors import IntegrityError, LocalFileError
from tests.unit.test_cache_budget import C, add_revision


def _tree(cache: Path) -> dict[str, bytes]:
    return {
        p.relative_to(cache).as_posix(): p.read_bytes()
        for p in sorted(cache.glob("models--*/snapshots/**/*"))
        if p.is_file()
    }


def test_an_interrupted_move_resumes_and_ends_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    files = {f"f{i}": bytes([i]) * (1000 + i) for i in range(6)}
    add_revision(src, "a/m", C(1), files, ref="main")
    add_revision(src, "a/m", C(2), {"f0": files["f0"], "new": b"n" * 10})
    before = _tree(src)
    real_copy = move_mod._copy
    calls = 0

    def dying_copy(a: str, b: str) -> int:
        nonlocal calls
        calls += 1
        if calls == 4:
            with open(b, "wb") as fh:
                fh.write(b"half")
            raise OSError(28, "No space left on device")
        return real_copy(a, b)

    monkeypatch.setattr(move_mod, "_copy", dying_copy)
    with pytest.raises(LocalFileError, match="Rerun"):
        move_cache(src, dst)
    assert not (dst / "models--a--m").exists()  # nothing half-moved is visible
    assert _tree(src) == before  # the source is untouched
    assert scan_cache(dst).repos == []
    monkeypatch.setattr(move_mod, "_copy", real_copy)
    res = move_cache(src, dst)
    assert res.resumed == 3 and res.blobs_copied == 4  # 3 staged blobs kept, the rest copied
    assert _tree(dst) == before
    assert not (src / "models--a--m").exists()
    assert (dst / "models--a--m" / "refs" / "main").read_text() == C(1)


def test_shared_store_blobs_move_into_the_destination_store(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    data = b"xet payload" * 100
    sha = hashlib.sha256(data).hexdigest()
    rc = add_revision(src, "a/m", C(1), {"w": data}, ref="main")
    store = src / "blobs"
    (store / "ab").mkdir(parents=True)
    (store / ".huggingface-shared-blobs").write_text("1\n")
    payload = store / "ab" / ("ab" + "0" * 62)
    payload.write_bytes(data)
    rc.blob_path(sha).unlink()
    os.symlink("../../blobs/ab/" + payload.name, rc.blob_path(sha))
    move_cache(src, dst)
    moved = dst / "models--a--m" / "blobs" / sha
    assert os.readlink(moved) == "../../blobs/ab/" + payload.name
    assert (dst / "blobs" / ".huggingface-shared-blobs").read_text() == "1\n"
    assert (dst / "blobs" / "ab" / (payload.name + ".refs")).read_text() == (
        f"models--a--m/blobs/{sha}\n"
    )
    assert (dst / "models--a--m" / "snapshots" / C(1) / "w").read_bytes() == data


def test_a_corrupt_blob_or_a_bad_link_refuses_the_repo(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    rc = add_revision(src, "a/m", C(1), {"w": b"good"}, ref="main")
    rc.blob_path(hashlib.sha256(b"good").hexdigest()).write_bytes(b"evil")
    with pytest.raises(IntegrityError, match="does not hash"):
        move_cache(src, dst)
    assert (src / "models--a--m").exists() and not (dst / "models--a--m").exists()
    rc.blob_path(hashlib.sha256(b"good").hexdigest()).write_bytes(b"good")
    os.symlink("/etc/passwd", rc.snapshot_dir(C(1)) / "passwd")
    with pytest.raises(IntegrityError, match="not moved"):
        move_cache(src, dst)
