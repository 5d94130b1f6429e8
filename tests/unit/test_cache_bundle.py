"""Bundles: export/import round trip on a hand-built cache, and hostile bundles refused cleanly."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from hubcli.cache.bundle import MANIFEST, export_bundle, import_bundle
from hubcli.cache.layout import RepoCache
from hubcli.errors import IntegrityError, UnsafePathError
from hubcli.repo import RepoRef

C1 = "1" * 40


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def build_cache(cache: Path, files: dict[str, bytes], *, repo: str = "alice/m") -> RepoCache:
    rc = RepoCache(cache, RepoRef(repo))
    rc.ensure_dirs()
    for path, data in files.items():
        etag = hashlib.sha256(data).hexdigest() if path.endswith(".bin") else git_sha1(data)
        rc.blob_path(etag).write_bytes(data)
        rc.link_snapshot(C1, path, etag)
    rc.write_ref("main", C1)
    rc.write_ref("refs/pr/1", C1)
    return rc


FILES = {"config.json": b"{}", "sub/v.txt": b"hello", "w.bin": b"\x00" * 100}


def test_roundtrip_keeps_refs_and_links(tmp_path: Path) -> None:
    build_cache(tmp_path / "a", FILES)
    bundle = tmp_path / "b.tar.gz"
    res = export_bundle(tmp_path / "a", ["alice/m"], bundle)
    assert res.blobs == 3 and res.refs == 2
    out = import_bundle(tmp_path / "b", bundle)
    assert out.blobs == 3
    rc = RepoCache(tmp_path / "b", RepoRef("alice/m"))
    assert rc.read_ref("refs/pr/1") == C1
    assert (rc.ref_path("main")).read_text() == C1  # exactly 40 chars, no newline
    for path, data in FILES.items():
        snap = rc.snapshot_file(C1, path)
        assert snap.is_symlink() and not os.path.isabs(os.readlink(snap))
        assert snap.read_bytes() == data
    again = import_bundle(tmp_path / "b", bundle)
    assert again.blobs == 0 and again.blobs_skipped == 3


def _members(bundle: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(bundle) as tf:
        return [(m, tf.extractfile(m).read()) for m in tf.getmembers()]  # type: ignore[union-attr]


def _write(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


@pytest.fixture
def good(tmp_path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    build_cache(tmp_path / "src", FILES)
    bundle = tmp_path / "good.tar"
    export_bundle(tmp_path / "src", ["alice/m"], bundle)
    return _members(bundle)


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (_info("../evil"), "escapes"),
        (_info("blobs/../../evil"), "escapes"),
        (_info("/tmp/evil-abs"), "absolute"),
        (_info("blobs/x", tarfile.SYMTYPE, "/etc/passwd"), "link"),
        (_info("blobs/y", tarfile.LNKTYPE, "../../outside"), "link"),
        (_info("blobs/dev", tarfile.CHRTYPE), "device"),
        (_info("snapshots/c/evil"), "unexpected member"),
    ],
)
def test_hostile_members_refused_and_nothing_left(
    tmp_path: Path,
    good: list[tuple[tarfile.TarInfo, bytes]],
    extra: tarfile.TarInfo,
    message: str,
) -> None:
    bundle = _write(tmp_path / "evil.tar", [*good, (extra, b"pwned")])
    target = tmp_path / "target"
    with pytest.raises(UnsafePathError, match=message):
        import_bundle(target, bundle)
    assert list(target.iterdir()) == []
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil-abs").exists()


def test_wrong_hash_refused_before_anything_is_visible(
    tmp_path: Path, good: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    target = tmp_path / "target"
    build_cache(target, {"other.txt": b"keep me"}, repo="bob/x")
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    members = [
        (m, (b"\x01" * len(d)) if m.name.startswith("blobs/") and len(d) == 100 else d)
        for m, d in good
    ]
    with pytest.raises(IntegrityError, match="does not match"):
        import_bundle(target, _write(tmp_path / "bad.tar", members))
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before


def test_manifest_with_unsafe_path_refused(
    tmp_path: Path, good: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    doc = json.loads(good[0][1])
    files = doc["repos"][0]["revisions"][C1]["files"]
    files["../../../escape"] = files.pop("config.json")
    members = [(good[0][0], json.dumps(doc).encode()), *good[1:]]
    target = tmp_path / "t"
    with pytest.raises(UnsafePathError):
        import_bundle(target, _write(tmp_path / "m.tar", members))
    assert list(target.iterdir()) == []


def test_missing_manifest_and_missing_blob_refused(
    tmp_path: Path, good: list[tuple[tarfile.TarInfo, bytes]]
) -> None:
    with pytest.raises(IntegrityError, match="no manifest"):
        import_bundle(tmp_path / "t1", _write(tmp_path / "a.tar", good[1:]))
    assert good[0][0].name == MANIFEST
    with pytest.raises(IntegrityError, match="missing"):
        import_bundle(tmp_path / "t2", _write(tmp_path / "b.tar", good[:-1]))
    assert list((tmp_path / "t2").iterdir()) == []


def test_export_refuses_corrupt_blob(tmp_path: Path) -> None:
    rc = build_cache(tmp_path / "a", FILES)
    blob = rc.blob_path(hashlib.sha256(FILES["w.bin"]).hexdigest())
    blob.write_bytes(b"\x07" * 100)
    out = tmp_path / "x.tar"
    with pytest.raises(IntegrityError):
        export_bundle(tmp_path / "a", ["alice/m"], out)
    assert not out.exists() and list(tmp_path.glob(".x.tar*")) == []
