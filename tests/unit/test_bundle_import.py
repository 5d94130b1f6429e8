"""cache import: the whole manifest is validated before the cache is touched, an existing good
entry is never replaced, and a failure (or a crash) mid-publish leaves nothing half visible."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import scan_cache_dir

from hubcli.cache import bundle_import
from hubcli.cache.bundle import MANIFEST, export_bundle, import_bundle
from hubcli.cache.layout import RepoCache
from hubcli.cache.verify import verify_cache
from hubcli.errors import IntegrityError, LocalFileError, UnsafePathError
from hubcli.repo import RepoRef
from tests.fixtures.bundles import Members, listing, members_of, write_bundle
from tests.unit.test_cache_bundle import C1, FILES, build_cache, git_sha1

C2 = "2" * 40


def etag_of(path: str, data: bytes) -> str:
    return hashlib.sha256(data).hexdigest() if path.endswith(".bin") else git_sha1(data)


def write_tree(rc: RepoCache, commit: str, files: dict[str, bytes]) -> Path:
    entries: dict[str, Any] = {}
    for path, data in sorted(files.items()):
        entry: dict[str, Any] = {"size": len(data), "blob_id": git_sha1(b"ptr" + data)}
        if path.endswith(".bin"):
            entry.update(lfs_sha256=hashlib.sha256(data).hexdigest(), lfs_size=len(data))
        else:
            entry["blob_id"] = git_sha1(data)
        entries[path] = entry
    tree = rc.tree_path(commit)
    tree.parent.mkdir(parents=True, exist_ok=True)
    tree.write_text(json.dumps({"format_version": 1, "files": entries}, indent=1))
    return tree


@pytest.fixture
def src(tmp_path: Path) -> Path:
    cache = tmp_path / "src"
    rc = build_cache(cache, FILES)
    write_tree(rc, C1, FILES)
    return cache


@pytest.fixture
def good(src: Path, tmp_path: Path) -> Members:
    bundle = tmp_path / "good.tar"
    export_bundle(src, ["alice/m"], bundle)
    return members_of(bundle)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    """A cache where alice/m already works (same content) next to another repo."""
    cache = tmp_path / "target"
    rc = build_cache(cache, FILES)
    write_tree(rc, C1, FILES)
    build_cache(cache, {"other.txt": b"keep me"}, repo="bob/x")
    return cache


def manifest_of(members: Members) -> dict[str, Any]:
    return dict(json.loads(members[0][1]))


def refused(
    tmp_path: Path, cache: Path, members: Members, doc: Any, error: type[Exception]
) -> None:
    before = listing(cache)
    with pytest.raises(error):
        import_bundle(cache, write_bundle(tmp_path / "evil.tar", members, doc))
    assert listing(cache) == before


def test_roundtrip_with_trees_then_again(src: Path, tmp_path: Path, good: Members) -> None:
    bundle = write_bundle(tmp_path / "b.tar", good)
    dst = tmp_path / "dst"
    res = import_bundle(dst, bundle)
    assert res.blobs == 3 and res.files == 3 and res.refs == 2
    rc = RepoCache(dst, RepoRef("alice/m"))
    assert rc.read_tree(C1) == RepoCache(src, RepoRef("alice/m")).read_tree(C1)
    assert verify_cache(dst).ok
    before = listing(dst)
    again = import_bundle(dst, bundle)
    assert again.blobs == 0 and again.blobs_skipped == 3 and listing(dst) == before
    assert not (dst / bundle_import.STAGING).exists()


@pytest.mark.parametrize(
    "bad_path",
    ["../../../../escape.json", "a/../../b", "/etc/passwd", "a//b", "a\\..\\b", "x\x00y", "\n"],
)
def test_tree_entry_with_unsafe_path_refused(
    tmp_path: Path, target: Path, good: Members, bad_path: str
) -> None:
    doc = manifest_of(good)
    tree = doc["repos"][0]["revisions"][C1]["tree"]["files"]
    tree[bad_path] = dict(tree["config.json"])
    refused(tmp_path, target, good, doc, UnsafePathError)


def test_file_and_folder_of_the_same_name_refused(
    tmp_path: Path, target: Path, good: Members
) -> None:
    doc = manifest_of(good)
    rev = doc["repos"][0]["revisions"][C1]
    rev["tree"] = None
    rev["files"]["config.json/x"] = rev["files"]["config.json"]
    refused(tmp_path, target, good, doc, UnsafePathError)
    refused(tmp_path, tmp_path / "empty", good, doc, UnsafePathError)


def test_existing_good_tree_is_never_replaced(tmp_path: Path, target: Path, good: Members) -> None:
    tree_path = RepoCache(target, RepoRef("alice/m")).tree_path(C1)
    doc = manifest_of(good)
    tree = doc["repos"][0]["revisions"][C1]["tree"]["files"]
    tree["config.json"]["blob_id"] = "f" * 40  # names other content than the cache's tree
    doc["repos"][0]["revisions"][C1]["files"].pop("config.json")
    refused(tmp_path, target, good, doc, IntegrityError)
    # same hashes, other cosmetic fields: the cached file is kept byte for byte
    doc = manifest_of(good)
    doc["repos"][0]["revisions"][C1]["tree"]["files"]["sub/v.txt"]["xet_hash"] = "a" * 64
    text = tree_path.read_text()
    import_bundle(target, write_bundle(tmp_path / "cosmetic.tar", good, doc))
    assert tree_path.read_text() == text


def test_snapshot_contradicting_the_cache_refused(
    tmp_path: Path, target: Path, good: Members
) -> None:
    rc = RepoCache(target, RepoRef("alice/m"))
    (rc.tree_path(C1)).unlink()
    snap = rc.snapshot_file(C1, "sub/v.txt")
    snap.unlink()
    rc.link_snapshot(C1, "sub/v.txt", etag_of("config.json", FILES["config.json"]))
    refused(tmp_path, target, good, None, IntegrityError)  # cache links another good blob
    snap.unlink()
    snap.mkdir()
    refused(tmp_path, target, good, None, IntegrityError)  # a folder where the bundle has a file


def test_broken_entries_are_replaced(tmp_path: Path, target: Path, good: Members) -> None:
    rc = RepoCache(target, RepoRef("alice/m"))
    snap = rc.snapshot_file(C1, "sub/v.txt")
    snap.unlink()
    os.symlink("/etc/hostname", snap)  # out of the cache
    rc.tree_path(C1).write_text("{not json")
    import_bundle(target, write_bundle(tmp_path / "b.tar", good))
    assert verify_cache(target).ok
    assert os.readlink(snap) == "../../../blobs/" + git_sha1(b"hello")


def test_existing_ref_is_kept_and_reported(tmp_path: Path, target: Path, good: Members) -> None:
    rc = RepoCache(target, RepoRef("alice/m"))
    rc.link_snapshot(C2, "config.json", git_sha1(b"{}"))
    rc.write_ref("main", C2)
    res = import_bundle(target, write_bundle(tmp_path / "b.tar", good))
    assert rc.read_ref("main") == C2
    assert any("main" in note and C2[:12] in note for note in res.kept)


def test_missing_bundle_is_local_io(tmp_path: Path) -> None:
    with pytest.raises(LocalFileError):
        import_bundle(tmp_path / "cache", tmp_path / "nope.tar")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("fail_at", [0, 1, 3, 5])
def test_failure_mid_publish_undoes_everything(
    tmp_path: Path, good: Members, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    dst = tmp_path / "dst"
    build_cache(dst, {"other.txt": b"keep me"}, repo="bob/x")
    before = listing(dst)
    calls = {"n": 0}
    real = bundle_import._place

    def flaky(entry: Any) -> None:
        if calls["n"] == fail_at:
            raise OSError(28, "No space left on device")
        calls["n"] += 1
        real(entry)

    monkeypatch.setattr(bundle_import, "_place", flaky)
    doc = manifest_of(good)
    doc["repos"][0]["revisions"][C2] = {"files": {"extra.txt": git_sha1(b"hello")}, "tree": None}
    doc["repos"][0]["refs"]["v2"] = C2
    # an existing C1 snapshot makes its files go through _place one by one
    RepoCache(dst, RepoRef("alice/m")).snapshot_dir(C1).mkdir(parents=True)
    before = listing(dst)
    with pytest.raises(LocalFileError, match="No space"):
        import_bundle(dst, write_bundle(tmp_path / "b.tar", good, doc))
    assert listing(dst, skip=(".locks",)) == {
        k: v for k, v in before.items() if not k.startswith(".locks")
    }


CRASH = """
import os, signal, sys
from pathlib import Path
from hubcli.cache import bundle_import
from hubcli.cache.bundle import import_bundle
real = bundle_import._place
count = {"n": 0}
def crash(entry):
    if count["n"] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    count["n"] += 1
    real(entry)
bundle_import._place = crash
import_bundle(Path(sys.argv[1]), Path(sys.argv[2]))
"""


@pytest.mark.parametrize("kill_at", [0, 2, 4])
def test_sigkill_mid_publish_leaves_only_complete_entries(
    tmp_path: Path, good: Members, kill_at: int
) -> None:
    dst = tmp_path / "dst"
    RepoCache(dst, RepoRef("alice/m")).snapshot_dir(C1).mkdir(parents=True)
    bundle = write_bundle(tmp_path / "b.tar", good)
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(dst), str(bundle), str(kill_at)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    report = verify_cache(dst)
    assert report.ok, report.failures  # every visible link leads to a verified blob
    rc = RepoCache(dst, RepoRef("alice/m"))
    for name in ("main", "refs/pr/1"):
        commit = rc.read_ref(name)
        assert commit is None or len(os.listdir(rc.snapshot_dir(commit))) == 2  # complete
    assert (dst / bundle_import.STAGING).exists()  # the crashed run's staging is left ...
    hf_scan = scan_cache_dir(dst)  # ... where huggingface_hub's scan does not see it
    assert not hf_scan.warnings, hf_scan.warnings
    import_bundle(dst, bundle)  # ... and swept by the next import, which completes the job
    assert not (dst / bundle_import.STAGING).exists()
    assert verify_cache(dst).ok and rc.read_ref("main") == C1


def test_bundle_of_garbage_is_integrity(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(IntegrityError):
        import_bundle(tmp_path / "c", junk)
    gz = tmp_path / "trunc.tar.gz"
    with tarfile.open(gz, "w:gz") as tf:
        info = tarfile.TarInfo(MANIFEST)
        info.size = 5
        tf.addfile(info, io.BytesIO(b"{}   "))
    gz.write_bytes(gz.read_bytes()[:20])
    with pytest.raises(IntegrityError):
        import_bundle(tmp_path / "c", gz)
