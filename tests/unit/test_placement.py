"""Blob placement: lock, partial, fill, atomic replace, clean; unique partials; planted links."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from hubcli.errors import UnsafePathError
from hubcli.transfer.partial import open_partial, state_path_for
from hubcli.transfer.placement import BlobSlot, link_or_copy

ETAG = "a" * 64


def test_fill_places_atomically_and_cleans_the_partial(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    blob = blobs / ETAG
    with BlobSlot(blob, lock=contextlib.nullcontext(), unique=False) as slot:
        assert not slot.present()
        assert slot.partial == blobs / f"{ETAG}.incomplete"

        def produce(tmp: Path) -> int:
            tmp.write_bytes(b"data")
            state_path_for(tmp).write_text("{}")
            return 4

        assert slot.fill(produce) == 4
        assert slot.present()
    assert blob.read_bytes() == b"data"
    assert sorted(p.name for p in blobs.iterdir()) == [ETAG]


@pytest.mark.parametrize("unique", [False, True])
def test_a_failed_fill_keeps_a_shared_partial_only(tmp_path: Path, unique: bool) -> None:
    blob = tmp_path / ETAG
    slot = BlobSlot(blob, lock=contextlib.nullcontext(), unique=unique)

    def produce(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("dropped")

    with slot, pytest.raises(RuntimeError):
        slot.fill(produce)
    assert not blob.exists()
    assert slot.partial.exists() is (not unique)
    if unique:
        assert slot.partial.name.startswith(ETAG + ".") and slot.partial.name.endswith(
            ".incomplete"
        )
        assert slot.partial.name != f"{ETAG}.incomplete"


def test_a_planted_link_at_the_partial_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    tmp = tmp_path / f"{ETAG}.incomplete"
    os.symlink(victim, tmp)
    with pytest.raises(UnsafePathError):
        open_partial(tmp, os.O_RDWR | os.O_CREAT)
    assert victim.read_bytes() == b"keep"


def test_link_or_copy_never_writes_through_a_link(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"payload")
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    dest = tmp_path / "dest"
    os.symlink(victim, dest)
    link_or_copy(src, dest)
    assert dest.read_bytes() == b"payload" and not dest.is_symlink()
    assert victim.read_bytes() == b"keep"
